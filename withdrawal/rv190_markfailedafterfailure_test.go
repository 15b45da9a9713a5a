package withdrawal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRV190MarkFailedAfterAFailedRestoreIsRefused: as
// TestRV188MarkFailedDuringTheRestoreIsRefused, but the procedure fails
// with the database restored and before it has recorded the restored
// requests as attempted: its Restore step ran pg_restore and then failed
// (starting ingestion again), or the database was restored again during
// step 3 and the procedure was cancelled before its next poll saw it. The
// procedure closes the gate again and returns; the runbook says to run it
// again (Restore nil), and until then wd-1, handed to the Submitter after
// the backup (its transfer is on the ledger), is requested with no attempt
// recorded. Support on the other instance cancelled it: MarkFailed,
// refusing only until the procedure returned, failed and refunded it, and
// the re-ingested transfer paid it out as well.
func TestRV190MarkFailedAfterAFailedRestoreIsRefused(t *testing.T) {
	t.Run("Restore failed after pg_restore", func(t *testing.T) { markFailedAfterAFailedRestore(t, false) })
	t.Run("restored again during step 3, then cancelled", func(t *testing.T) { markFailedAfterAFailedRestore(t, true) })
}

func markFailedAfterAFailedRestore(t *testing.T, again bool) {
	e, w, other := handedOverBeforeARestore(t)

	// restore is pg_restore: wd-1 as the backup has it, requested, never
	// handed over (and, restoring again, the backup's gate, open).
	restore := e.restoreWD1
	ctx, stop := context.WithCancel(e.ctx)
	defer stop()
	p := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: e.world.Now().Add(ttl), PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			if again {
				return nil
			}
			if err := restore(ctx, false); err != nil {
				return err
			}
			return errors.New("starting ingestion again: connection refused")
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if again && pr.Step == withdrawal.StepWait && !pr.Done {
				// Restored again by hand, and the procedure cancelled (to
				// run it again on it) before its next poll.
				require.NoError(t, restore(ctx, true))
				stop()
			}
		},
	}
	_, err := p.Run(ctx)
	require.Error(t, err, "the procedure failed")
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.False(t, g.Open(), "the gate is closed after the failure")

	// Before the procedure runs again, support cancels wd-1.
	_, cancelErr := other.MarkFailed(e.ctx, "wd-1", "support: the user asked to cancel")
	require.Error(t, cancelErr, "support failed wd-1 after the failed procedure: its transfer may be on the ledger")
	require.True(t, errors.Is(cancelErr, withdrawal.ErrSubmitAttempted) || errors.Is(cancelErr, withdrawal.ErrWithdrawalsDisabled), "%v", cancelErr)
	require.Contains(t, cancelErr.Error(), `"wd-1"`)

	// Re-ingestion: wd-1's transfer.
	require.NoError(t, e.run(e.batch(e.world.Now().Add(2*ttl), e.transfer(w, "0.1"))), "the re-ingestion of wd-1's transfer")
	require.Equal(t, withdrawal.StatusCompleted, e.get("wd-1").Status)
	require.Empty(t, refunds(t, e.db), "wd-1 paid out and refunded")
}
