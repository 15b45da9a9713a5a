package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRV188MarkFailedDuringTheRestoreIsRefused: two instances of the
// exchange's withdrawal service on one Integration DB. wd-1 was requested
// before the backup and handed to the Submitter after it: its transfer is
// on the ledger. The operator runs the RestoreProcedure; while its Restore
// step runs (pg_restore has committed, ingestion is being started again),
// support on the other instance cancels wd-1, which the restored database
// shows requested with no attempt recorded: step 2 records one only after
// Restore returns. Create and the Automation's submissions refuse for the
// whole span (the procedure's restore lock), but MarkFailed did not look:
// it failed wd-1 and refunded its user, and the re-ingested transfer then
// paid wd-1 out as well (the Reconciler's anomaly: paid, and refunded).
// The same when the database is restored again during step 3: until the
// procedure has closed that gate again and recorded the attempts, wd-1 is
// requested with none (Create and the submissions count the gate closed:
// the procedure's wait lock).
func TestRV188MarkFailedDuringTheRestoreIsRefused(t *testing.T) {
	t.Run("restore", func(t *testing.T) { markFailedDuringTheRestore(t, false) })
	t.Run("restored again during step 3", func(t *testing.T) { markFailedDuringTheRestore(t, true) })
}

func markFailedDuringTheRestore(t *testing.T, again bool) {
	e, w, other := handedOverBeforeARestore(t)

	// restore is pg_restore: wd-1 as the backup has it, requested, never
	// handed over (and, restoring again, the backup's gate, open); then
	// support, on the other instance, cancels wd-1.
	cancelErr := error(nil)
	restore := func(ctx context.Context, gate bool) error {
		if err := e.restoreWD1(ctx, gate); err != nil {
			return err
		}
		_, cancelErr = other.MarkFailed(ctx, "wd-1", "support: the user asked to cancel")
		return nil
	}
	ctx, stop := context.WithCancel(e.ctx)
	defer stop()
	var ingestErr error
	polls := 0
	p := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: e.world.Now().Add(ttl), PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			if again {
				return nil
			}
			return restore(ctx, false)
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done {
				return
			}
			polls++
			switch {
			case again && polls == 1:
				require.NoError(t, restore(ctx, true))
			case polls == 3:
				// Re-ingestion: wd-1's transfer, and the record time past tSafe.
				if ingestErr = e.run(e.batch(e.world.Now().Add(2*ttl), e.transfer(w, "0.1"))); ingestErr != nil {
					stop() // ingestion stopped on the anomaly: the procedure would wait for ever
				}
			}
		},
	}
	_, err := p.Run(ctx)
	require.Error(t, cancelErr, "support failed wd-1 during the restore: its transfer may be on the ledger")
	require.ErrorIs(t, cancelErr, withdrawal.ErrWithdrawalsDisabled)
	require.Contains(t, cancelErr.Error(), `"wd-1"`)
	require.NoError(t, ingestErr, "the re-ingestion of wd-1's transfer")
	require.NoError(t, err, "the procedure")
	require.Equal(t, withdrawal.StatusCompleted, e.get("wd-1").Status)
	require.Empty(t, refunds(t, e.db), "wd-1 paid out and refunded")
}
