package withdrawal_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// When the operator's Restore step restored the database (pg_restore) and
// then failed (restarting ingestion, say), the gate is the backup's, open:
// the procedure closes it again before returning the error, so that a
// process that had not read the gate after step 1 (a restarted withdrawal
// service) sees it closed.
func TestRestoreStepFailureClosesTheRestoredGate(t *testing.T) {
	pgDump, pgRestore, e, dsn, holdings := dumpableEnv(t) // wd-1 in flight at backup time
	ctx := e.ctx

	backup := filepath.Join(t.TempDir(), "integration.dump")
	runTool(ctx, t, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn)

	_, err := withdrawal.RestoreProcedure{
		Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			// stop ingestion; restore; start ingestion again -- which fails.
			runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, backup)
			return errors.New("starting ingestion again: connection refused")
		},
	}.Run(ctx)
	require.ErrorContains(t, err, "step 2")

	// A withdrawal service (re)started after the failure: its own Store.
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	service, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	g, err := service.Gate(ctx)
	require.NoError(t, err)
	assert.False(t, g.Open(), "the procedure failed in step 2 but left the restored gate open: %+v", g)

	submitted := 0
	auto, err := withdrawal.NewAutomation(service, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { submitted++; return nil })})
	require.NoError(t, err)
	round, err := auto.RunOnce(ctx)
	require.NoError(t, err)
	assert.True(t, round.Paused, "the automation re-submitted restored requests before tSafe: %+v", round)
	_, err = service.Create(ctx, e.request("wd-2", "10", holdings[1]))
	assert.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled)
	assert.Zero(t, submitted)
}
