package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// handedOverBeforeARestore is the set-up of the restore tests in which
// support cancels a withdrawal: wd-1 (5, reserving a holding of 10) was
// requested before the backup and handed to the Submitter after it, its
// attempt recorded and it marked submitted (its transfer is on the
// ledger). other is the Store of a second instance of the exchange's
// withdrawal service on the same Integration DB (support's), its pool
// closed at the test's end.
func handedOverBeforeARestore(t *testing.T) (e *env, w *withdrawal.Withdrawal, other *withdrawal.Store) {
	t.Helper()
	e = newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.tick(e.world.Now())
	w = e.create(e.request("wd-1", "5", cids[0]))
	_, err := e.db.ExecContext(e.ctx, `UPDATE txhistory.withdrawal SET submit_attempted_at = now() WHERE id = 'wd-1'`)
	require.NoError(t, err)
	_, err = e.store.MarkSubmitted(e.ctx, "wd-1") // the Automation handed it over, after the backup
	require.NoError(t, err)

	var dbName string
	require.NoError(t, e.db.GetContext(e.ctx, &dbName, `SELECT current_database()`))
	db2, err := sqlx.Open("postgres", pgtest.SharedServer(t).DSN(dbName))
	require.NoError(t, err)
	t.Cleanup(func() { db2.Close() })
	other, err = withdrawal.NewStore(db2, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	return e, w, other
}

// restoreWD1 is pg_restore of the backup handedOverBeforeARestore's wd-1
// predates: wd-1 as the backup has it, requested, never handed over, and,
// if gate is set, the backup's gate, open.
func (e *env) restoreWD1(ctx context.Context, gate bool) error {
	if gate {
		if _, err := e.db.ExecContext(ctx, `UPDATE txhistory.withdrawal_gate
			SET enabled = true, reason = 'the backup''s', changed_at = '2026-01-01T00:00:00Z'`); err != nil {
			return err
		}
	}
	_, err := e.db.ExecContext(ctx, `UPDATE txhistory.withdrawal
		SET status = 'requested', submitted_at = NULL, submit_attempted_at = NULL WHERE id = 'wd-1'`)
	return err
}

// passTSafe, as a RestoreProcedure's Progress, moves the ingested record
// time an hour past now once the procedure waits for tSafe (step 3).
func (e *env) passTSafe(pr withdrawal.RestoreProgress) {
	if pr.Step == withdrawal.StepWait && !pr.Done {
		e.tick(time.Now().Add(time.Hour))
	}
}

// lockTable begins a transaction of db holding table in ACCESS EXCLUSIVE
// mode, as pg_restore --single-transaction's DROP of it does; the caller
// rolls it back.
func lockTable(ctx context.Context, db *sqlx.DB, table string) (*sqlx.Tx, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE `+table+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// lockAwaited reports whether a session of db waits for a lock on table.
func lockAwaited(ctx context.Context, db *sqlx.DB, table string) (bool, error) {
	var waits bool
	err := db.GetContext(ctx, &waits, `SELECT EXISTS (SELECT 1 FROM pg_locks
		WHERE NOT granted AND relation = $1::regclass)`, table)
	return waits, err
}
