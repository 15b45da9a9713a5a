package withdrawal_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The exchange's support cancels a withdrawal that is still requested
// (MarkFailed, which refunds the user: rv32's test has it do so before the
// Automation records its attempt). Once the Automation has handed it to the
// Submitter, requested no longer means that nothing was submitted: the
// participant may be accepting its transfer right now, or may have accepted
// it before the process died. A cancellation then must be refused, as the
// Automation refuses to fail such a withdrawal for a missing pre-approval:
// only expiry (trecTgt passed, no transfer seen) may say it failed.
// Otherwise the user is refunded and paid.

// TestRV84CancelDuringSubmissionIsRefused: support cancels while Submit
// runs, after the participant accepted the transfer.
func TestRV84CancelDuringSubmissionIsRefused(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	e.tick(e.world.Now())

	var onLedger *ledger.Transaction
	var cancelErr error
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			onLedger = e.transfer(w, "0") // the participant accepted the command
			// Meanwhile support, seeing the withdrawal requested, cancels it.
			_, cancelErr = e.store.MarkFailed(e.ctx, w.ID, "cancelled by support")
			return nil
		})})
	require.NoError(t, err)
	_, err = auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.NotNil(t, onLedger)

	requireCancelRefusedAndPaidOnce(t, e, w, onLedger, cancelErr)
}

// TestRV84CancelAfterLostSubmissionIsRefused: the process died after the
// participant accepted the transfer, before "submitted" committed; the
// withdrawal looks stuck in requested, and support cancels it.
func TestRV84CancelAfterLostSubmissionIsRefused(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	e.tick(e.world.Now())

	var onLedger *ledger.Transaction
	ctx1, crash := context.WithCancel(e.ctx)
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			onLedger = e.transfer(w, "0") // the participant accepted the command
			crash()                       // the process dies before the mark commits
			return nil
		})})
	require.NoError(t, err)
	_, err = auto.RunOnce(ctx1)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, withdrawal.StatusRequested, e.get(w.ID).Status, "the mark was lost with the crash")

	_, cancelErr := e.store.MarkFailed(e.ctx, w.ID, "stuck, cancelled by support")
	requireCancelRefusedAndPaidOnce(t, e, w, onLedger, cancelErr)
}

// requireCancelRefusedAndPaidOnce checks that the cancellation of w was
// refused and refunded nothing, and that ingesting onLedger, w's transfer,
// completes w.
func requireCancelRefusedAndPaidOnce(t *testing.T, e *env, w *withdrawal.Withdrawal, onLedger *ledger.Transaction, cancelErr error) {
	t.Helper()
	require.Empty(t, refunds(t, e.db), "support's cancellation refunded the user (withdrawal now %s) while its transfer is on the ledger: paid twice",
		e.get(w.ID).Status)
	require.ErrorIs(t, cancelErr, withdrawal.ErrSubmitAttempted, "the cancellation of a withdrawal handed to the Submitter was accepted")
	require.ErrorContains(t, cancelErr, `"`+w.ID+`"`)
	require.NoError(t, e.run(e.batch(e.world.Now(), onLedger)))
	require.Equal(t, withdrawal.StatusCompleted, e.get(w.ID).Status)
	require.Empty(t, refunds(t, e.db))
}
