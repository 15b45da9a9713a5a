package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The Integration DB is restored again during step 3 and the Progress
// callback panics before the procedure's next read of the gate (a bug in
// the exchange's dashboard code, say). Run panics through and, on the way
// out, its deferred release gives up the wait lock; the gate is the
// backup's, open. An API server's Store that last read the gate open
// before step 1 cannot tell (not rewound for it): as after ctx's end
// (TestRV173RestoredAgainThenCtxEndedLeavesTheGateClosed) and a panic in
// Restore, the gate must be closed again before the locks go.
func TestRV175ProgressPanicAfterRestoredAgainLeavesTheGateClosed(t *testing.T) {
	pgDump, pgRestore, e, dsn, holdings := dumpableEnv(t) // wd-1 requested at backup time
	ctx := e.ctx
	restore := backUp(t, e, pgDump, pgRestore, dsn)
	api, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	g, err := api.Gate(ctx)
	require.NoError(t, err)
	require.True(t, g.Open())

	waits := 0
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		_, _ = withdrawal.RestoreProcedure{
			Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: 50 * time.Millisecond, Logger: quietLog,
			Restore: func(ctx context.Context) error { restore(ctx); return nil },
			Progress: func(pr withdrawal.RestoreProgress) {
				if pr.Step != withdrawal.StepWait || pr.Done || pr.Waited == 0 {
					return
				}
				if waits++; waits == 2 {
					restore(ctx) // the second restore, then the callback panics
					var shown map[string]time.Time
					shown["ingested"] = pr.Ingested
				}
			},
		}.Run(ctx)
	}()
	require.NotNil(t, panicked, "Run did not pass the Progress callback's panic on")
	g, err = e.store.Gate(ctx)
	require.NoError(t, err)
	require.False(t, g.Enabled, "Progress panicked, the database restored again during step 3: its gate (the backup's) left open, the procedure's locks released")
	_, err = api.Create(ctx, e.request("wd-again", "10", holdings[1]))
	require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled, "a Create committed on the database restored again, after Run panicked")
}
