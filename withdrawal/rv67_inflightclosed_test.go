package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// As TestRestoreGateWaitsForInFlightRequestsSynchronizer (the treasury pays
// on A, Config.Synchronizer, and on B, which requests name), but with
// ingestion restarted by the Restore step, as its doc says ("stop
// ingestion, restore, ..., start ingestion again"): the transfer of
// wd-restored, in flight on B in the backup, committed after the backup,
// so re-ingestion completes wd-restored before step 2 lists the restored
// withdrawals in flight. The gate must still wait for B: wd-lost, whose
// request the restore lost, commits there before tSafe, and its user,
// whose debit the restore undid, could otherwise request the same funds
// again once A passes tSafe, and be paid twice.
func TestRestoreGateWaitsForInFlightSynchronizerWhenIngestionClosedThemFirst(t *testing.T) {
	l, holdings, lost, tSafe, onB := restoredOnBToReingest(t)

	done := make(chan restoreResult, 1)
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	go func() {
		rep, err := withdrawal.RestoreProcedure{Store: l.store, TSafe: tSafe, PollInterval: 5 * time.Millisecond, Logger: quietLog,
			Restore: func(context.Context) error {
				// The database is the backup's; start ingestion again. It
				// catches up before the procedure reads the restored
				// withdrawals.
				l.startIngester()
				return l.settle()
			}}.Run(ctx)
		done <- restoreResult{rep, err}
	}()
	require.Eventually(t, func() bool { return l.get("wd-restored").Status == withdrawal.StatusCompleted }, 10*time.Second, 5*time.Millisecond)

	// A passes tSafe, B's transaction not published yet; then B's is, and
	// B passes tSafe.
	res, openedEarly, again := l.passAThenB(t, tSafe, done, holdings[2], onB)
	require.NoError(t, res.err)
	require.False(t, openedEarly, "the gate opened while the transfer of wd-lost on B (record time %s < tSafe %s) was not ingested: "+
		"wd-restored, in flight on B in the restored database, was completed by ingestion before step 2 listed it, so B was not waited for "+
		"(synchronizers waited for: %v); a second request of the same funds was then created (err %v)",
		onB.RecordTime.Format(time.RFC3339Nano), tSafe.Format(time.RFC3339Nano), res.rep.Synchronizers, again)
	require.Equal(t, []string{syncB}, res.rep.Synchronizers)
	require.Equal(t, withdrawal.StatusRecovered, l.get(lost.ID).Status)
}
