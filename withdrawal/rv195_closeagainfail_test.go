package withdrawal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRV195CloseAgainFailureStillRecordsTheRestoredRequests: as
// TestRV190MarkFailedAfterAFailedRestoreIsRefused, but the closing of the
// gate after the failure fails too: the Restore step's pg_restore (without
// --single-transaction, which goes on past errors and exits 1 at the end)
// restored the withdrawal table, wd-1 requested with no attempt as the
// backup has it, but not the gate's table. The procedure's Disable fails
// (the gate's table is missing), and it did not record the restored
// requests as attempted, nor said so: once it returned, support's
// MarkFailed on another instance (which reads no gate) failed and refunded
// wd-1, handed to the Submitter after the backup, its transfer on the
// ledger. The requests are recorded whether the closing worked or not, and
// the error says whether they were.
func TestRV195CloseAgainFailureStillRecordsTheRestoredRequests(t *testing.T) {
	e, _, other := handedOverBeforeARestore(t)

	p := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: e.world.Now().Add(ttl), PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			// pg_restore --clean, part of it failing: the withdrawal
			// table as the backup has it, the gate's table not created.
			if err := e.restoreWD1(ctx, false); err != nil {
				return err
			}
			if _, err := e.db.ExecContext(ctx, `DROP TABLE txhistory.withdrawal_gate`); err != nil {
				return err
			}
			return errors.New("pg_restore: warning: errors ignored on restore: 1")
		},
	}
	_, err := p.Run(e.ctx)
	require.Error(t, err, "the procedure failed")
	require.Contains(t, err.Error(), "closing the gate after the failure", "the closing failed and says so")
	require.Contains(t, err.Error(), "recorded as attempted", "the error says what became of the restored requests: %v", err)

	// Before the procedure runs again, support cancels wd-1.
	_, cancelErr := other.MarkFailed(e.ctx, "wd-1", "support: the user asked to cancel")
	require.Error(t, cancelErr, "support failed wd-1 after the failed procedure: its transfer may be on the ledger")
	require.ErrorIs(t, cancelErr, withdrawal.ErrSubmitAttempted)
	require.Contains(t, cancelErr.Error(), `"wd-1"`)
	require.Empty(t, refunds(t, e.db), "wd-1 refunded, its transfer on the ledger")
}
