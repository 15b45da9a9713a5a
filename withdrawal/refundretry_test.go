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
// marks the withdrawal failed, crediting the user back. That mark does not
// commit: the exchange's Refunder fails once (a deadlock with a balance
// update, SQLSTATE 40P01: retry), or the process dies before the commit.
// The next round gets ErrNoPreapproval again and must fail the withdrawal
// then: no command was ever accepted. It must not take the attempt
// recorded before the first Submit for "an earlier submission may have
// committed" and leave the user's funds reserved until trecTgt.
func TestNoPreapprovalFailsAfterARefundError(t *testing.T) {
	t.Run("refunder error", func(t *testing.T) { noPreapprovalAfterALostMark(t, false) })
	t.Run("crash before the commit", func(t *testing.T) { noPreapprovalAfterALostMark(t, true) })
}

func noPreapprovalAfterALostMark(t *testing.T, crash bool) {
	var refundErrs atomic.Int32
	refundErrs.Store(1)
	var die atomic.Pointer[context.CancelFunc]
	flaky := withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
		if refundErrs.Add(-1) >= 0 {
			if crash {
				(*die.Load())()
				return ctx.Err()
			}
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
	ctx1, cancel := context.WithCancel(e.ctx)
	defer cancel()
	die.Store(&cancel)
	_, err = auto.RunOnce(ctx1)
	require.Error(t, err)
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)

	if crash { // restarted
		auto, err = withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: noPreapproval, Logger: quietLog})
		require.NoError(t, err)
	}
	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, calls)
	got := e.get("wd-1")
	require.Equal(t, withdrawal.StatusFailed, got.Status,
		"the second round (round %+v) left wd-1 %s to expire at its trecTgt, though no submission was ever accepted", round, got.Status)
	require.Equal(t, map[string]string{"wd-1": "6"}, refunds(t, e.db))
}
