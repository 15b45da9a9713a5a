package withdrawal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A second RestoreProcedure on the schema waits for the first's wait lock
// and reports so to Progress, which panics (the exchange's dashboard code).
// Run panics through; the process survives it (a supervisor that
// recovers). The transaction holdRestoreLock began for the lock, its
// timeouts off, must not be left open for ever on a connection taken from
// the pool: idle in transaction, it keeps a connection of the Store's pool
// and holds a snapshot back from VACUUM until the process ends.
func TestRV175ProgressPanicWaitingForTheRestoreLockLeavesNoTransaction(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	reached := make(chan struct{})
	once := false
	first := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: time.Now().Add(time.Hour), PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !once {
				once = true
				close(reached)
			}
		},
	}
	done := make(chan error, 1)
	go func() { _, err := first.Run(ctx); done <- err }()
	<-reached

	var panicked any
	func() {
		defer func() { panicked = recover() }()
		_, _ = withdrawal.RestoreProcedure{
			Store: e.store, TSafe: time.Now(), PollInterval: 10 * time.Millisecond, Logger: quietLog,
			Progress: func(pr withdrawal.RestoreProgress) {
				if strings.Contains(pr.Message, "waiting for the restore lock") {
					panic("dashboard: nil map")
				}
			},
		}.Run(e.ctx)
	}()
	require.NotNil(t, panicked, "the second procedure did not report waiting for the restore lock, or did not pass the panic on")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	var open int
	require.NoError(t, e.db.GetContext(e.ctx, &open, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'`))
	var xmin []string
	require.NoError(t, e.db.SelectContext(e.ctx, &xmin, `SELECT coalesce(backend_xmin::text, 'none') FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`))
	t.Logf("backend_xmin of the transactions left: %v", xmin)
	require.Zero(t, open, "a transaction left open by the procedure whose Progress panicked while waiting for the restore lock (pool: %+v)", e.db.Stats())
}
