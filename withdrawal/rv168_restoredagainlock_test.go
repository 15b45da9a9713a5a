package withdrawal_test

import (
	"context"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The Integration DB is restored again while the procedure waits for tSafe
// (step 3), as in TestRestoredAgainWhileWaitingForTSafe, but with an API
// server's Store and the Automation's, which last read the gate open
// before step 1 (they did not see the procedure's closures, so the backup's
// gate is not rewound for them). Between the second restore and the
// procedure's next read of the gate (restoredAgain), a Create and an
// Automation round must be refused and paused, as during step 2's restore:
// not commit on the restored-again database, nor hand wd-1, requested in
// the backup and handed to the Submitter after it, over again.
func TestRV168RestoredAgainDuringStep3HoldsStoresThatReadTheOpenGate(t *testing.T) {
	pgDump, pgRestore, e, dsn, holdings := dumpableEnv(t) // wd-1 requested at backup time
	ctx := e.ctx
	backup := filepath.Join(t.TempDir(), "integration.dump")
	runTool(ctx, t, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn)
	backupOffset, backupTimes := e.offset, maps.Clone(e.times)
	restore := func(ctx context.Context) {
		runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, backup)
		e.offset, e.times = backupOffset, maps.Clone(backupTimes)
	}

	api, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	svc, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	var mu sync.Mutex
	handed := map[string]int{}
	auto, err := withdrawal.NewAutomation(svc, withdrawal.AutomationConfig{Submitter: withdrawal.SubmitFunc(
		func(_ context.Context, w *withdrawal.Withdrawal) error {
			mu.Lock()
			defer mu.Unlock()
			handed[w.ID]++
			return nil
		}), Logger: quietLog})
	require.NoError(t, err)
	// wd-1 is handed over (its transfer paid) after the backup; both
	// services read the gate open then, before the procedure.
	_, err = auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, handed["wd-1"])
	g, err := api.Gate(ctx)
	require.NoError(t, err)
	require.True(t, g.Open())

	waits, restoredAgain := 0, false
	var created error
	var round withdrawal.Round
	var roundErr error
	rep, err := withdrawal.RestoreProcedure{
		Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error { restore(ctx); return nil },
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done || pr.Waited == 0 {
				return
			}
			waits++
			if waits == 2 {
				// The second restore, and, before the procedure reads the
				// gate again, a Create and a round of the services.
				restore(ctx)
				restoredAgain = true
				_, created = api.Create(ctx, e.request("wd-again", "10", holdings[1]))
				round, roundErr = auto.RunOnce(ctx)
			}
			if waits > 3 {
				e.tick(e.times[e.world.SynchronizerID].Add(ttl / 4)) // ingestion moves on
			}
		},
	}.Run(ctx)
	require.True(t, restoredAgain)
	t.Logf("Create after the second restore: %v; the Automation's round: %+v, %v; handed over: %v", created, round, roundErr, handed)
	require.ErrorIs(t, created, withdrawal.ErrWithdrawalsDisabled, "a Create committed on the database restored again during step 3, before the procedure closed its gate")
	require.NoError(t, roundErr)
	require.True(t, round.Paused, "the Automation's round on the database restored again during step 3")
	require.Equal(t, 1, handed["wd-1"], "wd-1, paid after the backup, handed to the Submitter again")
	require.NoError(t, err)
	require.True(t, rep.Ingested.After(rep.TSafe))
	// The lock is released with the opening: the services go on.
	_, err = api.Create(ctx, e.request("wd-after", "10", holdings[1]))
	require.NoError(t, err)
}
