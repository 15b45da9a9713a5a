package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// As TestRestoreGateWaitsForInFlightSynchronizerWhenIngestionClosedThemFirst
// (Config.Synchronizer A, wd-restored in flight on B in the backup, the
// request of wd-lost on B lost), but the first run of the procedure is
// cancelled during step 3, after step 2 listed wd-restored, and ingestion
// completes wd-restored before the operator runs it again with Restore nil,
// as Run's doc says, passing the first run's tSafe and synchronizers. The
// rerun's step 1 comes after wd-restored was closed: it must still wait
// for B, which the first run's report names, before opening the gate,
// else the user of wd-lost, whose debit the restore undid, can request the
// same funds again once A passes tSafe, and be paid twice.
func TestRestoreRerunWaitsForTheFirstRunsSynchronizers(t *testing.T) {
	l, holdings, lost, tSafe, onB := restoredOnBToReingest(t)
	var err error

	// The first run: step 2 lists wd-restored in flight; it is cancelled
	// while it waits in step 3 (the operator's session ends, say).
	ctx1, cancel1 := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel1()
	rep1, err := withdrawal.RestoreProcedure{Store: l.store, TSafe: tSafe, PollInterval: 5 * time.Millisecond, Logger: quietLog,
		Restore: func(context.Context) error { return nil }, // restored; ingestion not started yet
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && pr.Waited > 0 {
				cancel1()
			}
		}}.Run(ctx1)
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, rep1)
	require.Equal(t, []string{syncB}, rep1.Synchronizers, "the first run's report")

	// Ingestion starts again and completes wd-restored before the rerun.
	l.startIngester()
	require.NoError(t, l.settle())
	require.Equal(t, withdrawal.StatusCompleted, l.get("wd-restored").Status)

	done := make(chan restoreResult, 1)
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	waiting := make(chan struct{})
	go func() {
		var once bool
		rep, err := withdrawal.RestoreProcedure{Store: l.store, TSafe: rep1.TSafe, Synchronizers: rep1.Synchronizers,
			PollInterval: 5 * time.Millisecond, Logger: quietLog,
			Progress: func(pr withdrawal.RestoreProgress) {
				if pr.Step == withdrawal.StepWait && !once {
					once = true
					close(waiting)
				}
			}}.Run(ctx)
		done <- restoreResult{rep, err}
	}()
	select {
	case <-waiting:
	case res := <-done:
		t.Fatalf("the rerun ended before step 3: %+v, %v", res.rep, res.err)
	}

	// A passes tSafe, B's transaction not published yet; then B's is, and
	// B passes tSafe.
	res, openedEarly, again := l.passAThenB(t, tSafe, done, holdings[2], onB)
	require.NoError(t, res.err)
	require.False(t, openedEarly, "the rerun opened the gate while the transfer of wd-lost on B (record time %s < tSafe %s) was not ingested: "+
		"wd-restored, in flight on B when the first run listed it, was completed between the runs, and B, passed from the first run's report, "+
		"was not waited for (synchronizers waited for: %v); a second request of the same funds was then created (err %v)",
		onB.RecordTime.Format(time.RFC3339Nano), tSafe.Format(time.RFC3339Nano), res.rep.Synchronizers, again)
	require.Equal(t, []string{syncB}, res.rep.Synchronizers)
	require.Equal(t, withdrawal.StatusRecovered, l.get(lost.ID).Status)
	require.True(t, l.get(lost.ID).CreatedAt.Before(res.rep.EnabledAt), "wd-lost recovered after the gate opened")
}
