package withdrawal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A procedure whose context ends while a statement of its waits (here for
// a lock another session holds on the withdrawals) reports that end:
// errors.Is finds context.DeadlineExceeded, not only the driver's
// "canceling statement due to user request" or "bad connection" that lib/pq
// gives for the cancelled statement, so that a caller running the
// procedure under a deadline can tell the two apart.
func TestRestoreProcedureEndedMidStatementReportsTheContext(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	holdings := e.mint("100")
	e.create(e.request("wd-1", "40", holdings[0]))

	lock, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	defer lock.Rollback()
	_, err = lock.ExecContext(e.ctx, `LOCK TABLE `+schema.Qualify(e.store.Config().Schema, withdrawal.Table)+` IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	restored := false
	_, err = withdrawal.RestoreProcedure{Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(context.Context) error { restored = true; return nil }}.Run(ctx)
	require.True(t, restored)
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "the procedure's context ended mid-statement, but its error does not say so: %v", err)
}

// A procedure whose Restore fails on its own (here a pg_restore error)
// while ctx is still live, and whose ctx ends only while step 2 closes the
// gate again (it waits here for a lock another session holds on the gate),
// does not blame ctx: the closing runs on a context of its own, and the
// step failed before ctx ended. errors.Is finding context.DeadlineExceeded
// would tell a caller that its deadline cut the restore short.
func TestRestoreProcedureFailingBeforeItsContextEndedDoesNotBlameIt(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})

	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	_, err := withdrawal.RestoreProcedure{Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(context.Context) error {
			lock, err := e.db.BeginTxx(e.ctx, nil)
			require.NoError(t, err)
			_, err = lock.ExecContext(e.ctx, `LOCK TABLE `+schema.Qualify(e.store.Config().Schema, withdrawal.GateTable)+` IN ACCESS EXCLUSIVE MODE`)
			require.NoError(t, err)
			go func() {
				<-ctx.Done()
				time.Sleep(200 * time.Millisecond)
				_ = lock.Rollback()
			}()
			return errors.New("pg_restore: error: could not read input file")
		}}.Run(ctx)
	require.ErrorContains(t, err, "pg_restore: error: could not read input file")
	require.NotErrorIs(t, err, context.DeadlineExceeded, "Restore failed before the procedure's context ended, but the error blames the context")
	g, gerr := e.store.Gate(e.ctx)
	require.NoError(t, gerr)
	require.False(t, g.Enabled)
}
