package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The brake during a migration: a migration transaction that altered the
// checkpoint table (as 010_checkpoint_parties does) holds it until it
// commits, while the gate is not its to lock. Disable, which takes no
// migration lock so that it brakes whatever the schema's version, waits
// for the gate with a DBA's lock_timeout off, but then read the ingested
// record time under that lock_timeout again: it failed with 55P03 and the
// gate stayed open (the restore procedure's closing of a restored gate,
// run while ingestion started again migrates the restored schema, the
// same).
func TestRV161DisableDuringMigrationPastLockTimeout(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	_, err := e.db.ExecContext(e.ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = %L', current_database(), '300ms'); END $$`)
	require.NoError(t, err)
	e.db.SetMaxIdleConns(0) // new sessions take the setting
	e.db.SetMaxIdleConns(2)

	mig, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	defer func() { _ = mig.Rollback() }()
	_, err = mig.ExecContext(e.ctx, `ALTER TABLE txhistory.checkpoint ADD COLUMN rv161 text`)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		done <- mig.Commit()
	}()

	require.NoError(t, e.store.Disable(e.ctx, "brake during a migration"))
	require.NoError(t, <-done)
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.False(t, g.Enabled)
}
