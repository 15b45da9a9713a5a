package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A backup taken before the Automation handed a withdrawal to the
// Submitter restores it requested, its submit_attempted_at empty, though
// its transfer may be on the ledger (submitted after the backup). While the
// restore procedure waits for ingestion to see that transfer (step 3),
// support's MarkFailed of the "stuck" withdrawal must be refused as it is
// for a live one with its attempt recorded: otherwise the user is refunded
// and then paid when ingestion reaches the transfer.
func TestRV89CancelOfARestoredWithdrawalInFlightIsRefused(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	e.tick(e.world.Now())

	var onLedger *ledger.Transaction
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			onLedger = e.transfer(w, "0") // the participant accepted the command
			return nil
		})})
	require.NoError(t, err)
	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, round.Submitted)

	ledgerNow := e.world.Now()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	var cancelErr error
	cancelled := false
	p := withdrawal.RestoreProcedure{
		Store:        e.store,
		TTL:          ttl,
		Now:          func() time.Time { return ledgerNow },
		PollInterval: time.Millisecond,
		Logger:       quietLog,
		Restore: func(ctx context.Context) error {
			// The backup was taken before the submission.
			_, err := e.db.ExecContext(ctx, `UPDATE txhistory.withdrawal SET status = 'requested', submitted_at = NULL,
				submit_attempted_at = NULL, updated_at = created_at WHERE id = $1`, w.ID)
			return err
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !pr.Done && !cancelled {
				// Support sees the withdrawal requested and cancels it.
				cancelled = true
				_, cancelErr = e.store.MarkFailed(e.ctx, w.ID, "stuck, cancelled by support")
				cancel()
			}
		},
	}
	_, err = p.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, cancelled, "step 3 never began")
	requireCancelRefusedAndPaidOnce(t, e, w, onLedger, cancelErr)
}
