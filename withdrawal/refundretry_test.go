package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// The receiver has no transfer pre-approval: the first Submit says so
// (ErrNoPreapproval: the participant accepted nothing), and the Automation
// marks the withdrawal failed, crediting the user back. The exchange's
// Refunder fails that once (a deadlock with a balance update, SQLSTATE
// 40P01: retry), so the round's transaction rolls back. The next round
// gets ErrNoPreapproval again and must fail the withdrawal then: no
// command was ever accepted. It must not take the attempt recorded before
// the failed round's Submit for "an earlier submission may have
// committed" and leave the user's funds reserved until trecTgt.
func TestNoPreapprovalFailsAfterARefundError(t *testing.T) {
	var refundErrs atomic.Int32
	refundErrs.Store(1)
	flaky := withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
		if refundErrs.Add(-1) >= 0 {
			return errors.New("pq: deadlock detected (40P01)")
		}
		return refunder(ctx, tx, w)
	})
	e := newEnv(t, withdrawal.Config{Refunder: flaky}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.tick(e.world.Now())

	calls := 0
	noPreapproval := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		calls++
		return fmt.Errorf("receiver %s: %w", w.Receiver, withdrawal.ErrNoPreapproval)
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: noPreapproval, Logger: quietLog})
	require.NoError(t, err)
	_, err = auto.RunOnce(e.ctx)
	require.ErrorContains(t, err, "deadlock detected")
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)

	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, calls)
	got := e.get("wd-1")
	require.Equal(t, withdrawal.StatusFailed, got.Status,
		"the second round (round %+v) left wd-1 %s to expire at its trecTgt, though no submission was ever accepted", round, got.Status)
	require.Equal(t, map[string]string{"wd-1": "6"}, refunds(t, e.db))
}
