package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The Integration DB is restored again during step 3 and the procedure's
// ctx ends before its next read of the gate (an operator who cancels it,
// to run it again on the database restored once more). Run returns, and
// with it the wait lock is released; the gate is the backup's, open. An
// API server's Store that last read the gate open before step 1 cannot
// tell (not rewound for it): the procedure must not return leaving that
// gate open, as it closes the gate again after every other failure on a
// database perhaps restored.
func TestRV173RestoredAgainThenCtxEndedLeavesTheGateClosed(t *testing.T) {
	err, _ := leaveStep3RestoredAgain(t, "Run returned after its ctx ended", func(cancel context.CancelFunc, _ withdrawal.RestoreProgress) {
		cancel() // the operator cancels
	})
	require.ErrorIs(t, err, context.Canceled)
}

// leaveStep3RestoredAgain runs a RestoreProcedure whose database is
// restored again at its second poll of step 3, where then (from Progress)
// makes Run leave before it reads the gate again. Whatever the way out, the
// gate must be closed after it, and an API server's Store that read the
// gate open before step 1 must not create. It returns Run's error and what
// Run panicked with, if it did; how says how Run left, for the messages.
func leaveStep3RestoredAgain(t *testing.T, how string, then func(cancel context.CancelFunc, pr withdrawal.RestoreProgress)) (runErr error, panicked any) {
	t.Helper()
	pgDump, pgRestore, e, dsn, holdings := dumpableEnv(t) // wd-1 requested at backup time
	ctx := e.ctx
	restore := backUp(t, e, pgDump, pgRestore, dsn)
	api, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	g, err := api.Gate(ctx)
	require.NoError(t, err)
	require.True(t, g.Open())

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waits := 0
	func() {
		defer func() { panicked = recover() }()
		_, runErr = withdrawal.RestoreProcedure{
			Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: 50 * time.Millisecond, Logger: quietLog,
			Restore: func(ctx context.Context) error { restore(ctx); return nil },
			Progress: func(pr withdrawal.RestoreProgress) {
				if pr.Step != withdrawal.StepWait || pr.Done || pr.Waited == 0 {
					return
				}
				if waits++; waits == 2 {
					restore(ctx) // the second restore
					then(cancel, pr)
				}
			},
		}.Run(rctx)
	}()
	g, err = e.store.Gate(ctx)
	require.NoError(t, err)
	require.False(t, g.Enabled, "%s, the database restored again during step 3: its gate (the backup's) left open, the procedure's locks released", how)
	_, err = api.Create(ctx, e.request("wd-again", "10", holdings[1]))
	require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled, "a Create committed on the database restored again, after %s", how)
	return runErr, panicked
}
