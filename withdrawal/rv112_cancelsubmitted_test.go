package withdrawal_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRV112CancelJustAfterSubmissionIsRefused is rv84's cancellation a
// moment later: support saw the withdrawal requested and cancels it, but
// the Automation's round has meanwhile handed it to the Submitter, the
// participant accepted the transfer and "submitted" committed. The
// withdrawal was handed to the Submitter exactly as in rv84: its transfer
// may pay out, and a cancellation that refunds the user pays twice. (rv112's
// model test found it with support's MarkFailed racing a round.)
func TestRV112CancelJustAfterSubmissionIsRefused(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	e.tick(e.world.Now())
	require.Equal(t, withdrawal.StatusRequested, e.get(w.ID).Status, "what support sees")

	var onLedger *ledger.Transaction
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			onLedger = e.transfer(w, "0") // the participant accepted the command
			return nil
		})})
	require.NoError(t, err)
	_, err = auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.NotNil(t, onLedger)
	require.Equal(t, withdrawal.StatusSubmitted, e.get(w.ID).Status)

	// Support's cancellation lands now.
	_, cancelErr := e.store.MarkFailed(e.ctx, w.ID, "cancelled by support")
	requireCancelRefusedAndPaidOnce(t, e, w, onLedger, cancelErr)
}
