package withdrawal_test

import (
	"context"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// After a restore the Integration DB's gate holds what it held at backup
// time: open, most likely. An Automation or a Create in a process that saw
// step 1 close the gate must not take the restored gate for an opening:
// until the procedure closes it again (step 2) and opens it past tSafe
// (step 4), a restored request may be one whose transfer is already in
// flight, and submitting it again could pay it twice.
func TestRestoredGateIsNotAnOpening(t *testing.T) {
	pgDump, pgRestore, e, dsn, holdings := dumpableEnv(t)
	ctx := e.ctx

	// The exchange's withdrawal service: another process, its own Store.
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	service, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	submitted := 0
	auto, err := withdrawal.NewAutomation(service, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { submitted++; return nil })})
	require.NoError(t, err)

	backup := filepath.Join(t.TempDir(), "integration.dump")
	runTool(ctx, t, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn)
	// Step 1; the service sees the gate closed.
	require.NoError(t, e.store.Disable(ctx, "step 1"))
	round, err := auto.RunOnce(ctx)
	require.NoError(t, err)
	require.True(t, round.Paused)

	// Step 2: the restore brings back the gate of backup time.
	runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, backup)
	g, err := e.store.Gate(ctx)
	require.NoError(t, err)
	require.True(t, g.Enabled, "the backup's gate was open")
	round, err = auto.RunOnce(ctx)
	require.NoError(t, err)
	require.True(t, round.Paused, "the restored gate was taken for an opening: %+v", round)
	require.Zero(t, submitted)
	_, err = service.Create(ctx, e.request("wd-2", "10", holdings[1]))
	require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled)

	// The procedure closes the restored gate and, past tSafe, opens it.
	require.NoError(t, e.store.Disable(ctx, "step 2"))
	require.NoError(t, e.store.Enable(ctx, "step 4"))
	round, err = auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Submitted: 1}, round)
	_, err = service.Create(ctx, e.request("wd-2", "10", holdings[1]))
	require.NoError(t, err)
}

// Changes of the gate are ordered by their commits, not by when their
// transactions began: a change made in a transaction that began before
// another change committed is not a restored gate.
func TestGateChangeInALongTransactionIsNotRewound(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	ctx := e.ctx
	long, err := e.db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer long.Rollback()
	_, err = long.ExecContext(ctx, `SELECT 1`) // the transaction has begun
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, e.store.Disable(ctx, "operator"))
	g, err := e.store.Gate(ctx)
	require.NoError(t, err)
	require.False(t, g.Rewound)
	require.NoError(t, e.store.EnableTx(ctx, long, "the long transaction"))
	require.NoError(t, long.Commit())
	g, err = e.store.Gate(ctx)
	require.NoError(t, err)
	require.True(t, g.Enabled)
	require.False(t, g.Rewound, "a later commit was taken for a restore: %+v", g)
	require.True(t, g.Open())
}

// dumpableEnv is a test environment on the shared server, whose database
// pg_dump and pg_restore (returned) can reach at dsn, with two holdings of
// 100 and withdrawal wd-1 of 40 requested from the first.
// backUp dumps e's database now (pg_dump) and returns what restores that
// backup: pg_restore --clean in one transaction, and e's ingested offset and
// record times set back with it, as ingestion resumes from the backup's
// checkpoint.
func backUp(t *testing.T, e *env, pgDump, pgRestore, dsn string) (restore func(ctx context.Context)) {
	t.Helper()
	backup := filepath.Join(t.TempDir(), "integration.dump")
	runTool(e.ctx, t, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn)
	offset, times := e.offset, maps.Clone(e.times)
	return func(ctx context.Context) {
		runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, backup)
		e.offset, e.times = offset, maps.Clone(times)
	}
}

func dumpableEnv(t *testing.T) (pgDump, pgRestore string, e *env, dsn string, holdings []string) {
	t.Helper()
	pgDump, pgRestore = pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	e = newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	var name string
	require.NoError(t, e.db.Get(&name, `SELECT current_database()`))
	dsn = pgtest.SharedServer(t).DSN(name)
	holdings = e.mint("100", "100")
	e.create(e.request("wd-1", "40", holdings[0]))
	return pgDump, pgRestore, e, dsn, holdings
}
