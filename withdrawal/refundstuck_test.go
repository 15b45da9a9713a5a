package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// wd-1's receiver has no transfer pre-approval, and the exchange's Refunder
// refuses wd-1's refund every time (the user's account is frozen, say): the
// failed mark never commits. wd-2, requested after it, goes to a receiver
// with a pre-approval. Since 8355726/be48f28 the refused attempt is
// cleared before the mark, so every round finds wd-1 first again (not
// retried, oldest), fails its mark, and RunOnce returns the Refunder's
// error before wd-2: one withdrawal the Refunder refuses stops every other
// withdrawal, for good. At f1bf16f the second round found the recorded
// attempt, left wd-1 to expire at the back of the queue, and submitted
// wd-2.
func TestARefundRefusedForOneWithdrawalDoesNotStopTheOthers(t *testing.T) {
	refusing := withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
		if w.ID == "wd-1" {
			return errors.New("exchange: account user-wd-1 is frozen")
		}
		return refunder(ctx, tx, w)
	})
	e := newEnv(t, withdrawal.Config{Refunder: refusing}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.create(e.request("wd-2", "5", cids[1]))
	e.tick(e.world.Now())

	sub := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		if w.ID == "wd-1" {
			return fmt.Errorf("receiver %s: %w", w.Receiver, withdrawal.ErrNoPreapproval)
		}
		return nil
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: sub, Logger: quietLog})
	require.NoError(t, err)
	var errs []error
	for range 4 {
		if _, err := auto.RunOnce(e.ctx); err != nil {
			errs = append(errs, err)
		}
	}
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-2").Status,
		"wd-2 never submitted: every round stopped at wd-1's refused refund (%d of 4 rounds failed: %v)", len(errs), errors.Join(errs...))
}
