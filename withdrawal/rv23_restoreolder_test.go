package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The backup restored in step 2 was taken before the last upgrade: the
// restored schema is at an older version until ingestion, started again by
// Restore, migrates it (ingestd -migrate) or the migration job runs. Step 2
// reads the restored withdrawals with this build's columns: it must wait
// for the migration, saying so, not fail with "column does not exist" and
// leave the operator a half-done runbook.
func TestRestoreOfABackupFromAnOlderVersionWaitsForTheMigration(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0])) // in flight at backup time

	migrated := make(chan error, 1)
	var waiting []string
	_, err := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: time.Unix(1, 0), PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(rctx context.Context) error {
			// pg_restore of a backup at version 7 (before 008 and 009).
			if err := schema.Migrate(rctx, e.db, schema.WithTargetVersion(7)); err != nil {
				return err
			}
			// Ingestion started again migrates it, a little later, and
			// ingests past the in-flight withdrawal's trecTgt.
			go func() {
				time.Sleep(200 * time.Millisecond)
				err := schema.Migrate(e.ctx, e.db)
				if err == nil {
					err = e.run(e.batch(e.world.Now().Add(2 * ttl)))
				}
				migrated <- err
			}()
			return nil
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepRestore && !pr.Done {
				waiting = append(waiting, pr.Message)
			}
		},
	}.Run(e.ctx)
	require.NoError(t, <-migrated)
	require.NoError(t, err, "the restore of a backup from an older schema version failed instead of waiting for its migration")
	require.Contains(t, waiting[len(waiting)-1], "Migrate")
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.True(t, g.Open())
}
