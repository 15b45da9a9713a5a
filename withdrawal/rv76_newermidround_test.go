package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A rolling upgrade: the newer release migrates the schema while a round
// of this release's Automation is submitting. The Automation checks the
// schema's version at the start of each round; the withdrawals after the
// migration in that same round must not be handed to the Submitter either:
// they would be submitted as this build records submissions, on tables
// that are the newer release's (008's submit_attempted_at is the example
// of what a newer release may need recorded).
func TestAutomationStopsWithinARoundOnASchemaANewerReleaseMigrated(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	a := e.create(e.request("wd-1", "60", e.mint("80")...))
	b := e.create(e.request("wd-2", "60", e.mint("80")...))
	e.tick(e.world.Now())

	migrated := make(chan error, 1)
	var submitted []string
	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		submitted = append(submitted, w.ID)
		if len(submitted) > 1 {
			return nil
		}
		// The newer release's migration starts now, on its own
		// connection; it may wait for this submission, not the reverse.
		go func() {
			tx, err := e.db.BeginTxx(e.ctx, nil)
			if err != nil {
				migrated <- err
				return
			}
			defer func() { _ = tx.Rollback() }()
			if _, err := tx.ExecContext(e.ctx, `SELECT pg_advisory_xact_lock(1954049383, hashtext('txhistory'))`); err != nil { // schema's "txmg"
				migrated <- err
				return
			}
			if _, err := tx.ExecContext(e.ctx, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1); err != nil {
				migrated <- err
				return
			}
			migrated <- tx.Commit()
		}()
		// Return once the migration is done, or waits for a lock.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			var waiting bool
			if err := e.db.GetContext(e.ctx, &waiting, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`); err != nil {
				return err
			}
			if waiting {
				return nil
			}
			var v int
			if err := e.db.GetContext(e.ctx, &v, `SELECT max(version) FROM txhistory.txhistory_migration`); err != nil {
				return err
			}
			if v > schema.Latest() {
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Error("the migration neither finished nor waited")
		return nil
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)
	_, err = auto.RunOnce(e.ctx)
	require.NoError(t, <-migrated)
	require.Len(t, submitted, 1, "the round went on submitting after a newer release migrated the schema to %03d (this build knows %03d)", schema.Latest()+1, schema.Latest())
	require.ErrorIs(t, err, schema.ErrUnknownVersion)
	statuses := []withdrawal.Status{e.get(a.ID).Status, e.get(b.ID).Status}
	require.ElementsMatch(t, []withdrawal.Status{withdrawal.StatusSubmitted, withdrawal.StatusRequested}, statuses)
}
