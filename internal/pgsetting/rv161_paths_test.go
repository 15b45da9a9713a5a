package pgsetting_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/cantonx/txhistory/internal/pgsetting"
	"github.com/cantonx/txhistory/pgtest"
)

// Off's setting back, path by path, under a database's defaults
// (statement_timeout 300ms, lock_timeout 250ms) on a pool of one session:
// a session SET inside the transaction survives its commit as it would
// without Off; a savepoint rolled back after an error brings back what the
// transaction had; an aborted transaction is refused; a statement whose
// context ends mid-way, or a setting back whose context had ended before
// it, leaves nothing off for the pool's next user of that session.
func TestRV161OffPaths(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDSN(t)
	admin := sqlx.MustOpen("postgres", dsn)
	defer admin.Close()
	admin.MustExec(`DO $$ BEGIN
		EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '300ms');
		EXECUTE format('ALTER DATABASE %I SET lock_timeout = %L', current_database(), '250ms');
	END $$`)
	db := sqlx.MustOpen("postgres", dsn)
	defer db.Close()
	db.SetMaxOpenConns(1)
	names := []string{"statement_timeout", "lock_timeout"}
	get := func(q sqlx.QueryerContext) [2]string {
		t.Helper()
		var a, b string
		require.NoError(t, q.QueryRowxContext(ctx, `SELECT current_setting('statement_timeout'), current_setting('lock_timeout')`).Scan(&a, &b))
		return [2]string{a, b}
	}
	defaults := [2]string{"300ms", "250ms"}
	require.Equal(t, defaults, get(db))

	t.Run("session SET in the transaction", func(t *testing.T) {
		tx := db.MustBegin()
		defer func() { _ = tx.Rollback() }()
		tx.MustExec(`SET statement_timeout = '7s'`)
		restore, err := pgsetting.Off(ctx, tx, names...)
		require.NoError(t, err)
		require.Equal(t, [2]string{"0", "0"}, get(tx))
		require.NoError(t, restore(ctx))
		require.Equal(t, [2]string{"7s", "250ms"}, get(tx))
		require.NoError(t, tx.Commit())
		require.Equal(t, [2]string{"7s", "250ms"}, get(db), "the session's SET, as without Off")
		db.MustExec(`RESET statement_timeout`)
		require.Equal(t, defaults, get(db))
	})
	t.Run("savepoint", func(t *testing.T) {
		tx := db.MustBegin()
		defer func() { _ = tx.Rollback() }()
		tx.MustExec(`SET LOCAL statement_timeout = '9s'`)
		tx.MustExec(`SAVEPOINT a`)
		_, err := pgsetting.Off(ctx, tx, names...)
		require.NoError(t, err)
		_, err = tx.Exec(`SELECT 1/0`)
		require.Error(t, err)
		tx.MustExec(`ROLLBACK TO SAVEPOINT a`)
		require.Equal(t, [2]string{"9s", "250ms"}, get(tx))
		tx.MustExec(`SAVEPOINT b`)
		restore, err := pgsetting.Off(ctx, tx, names...)
		require.NoError(t, err)
		require.NoError(t, restore(ctx))
		tx.MustExec(`RELEASE SAVEPOINT b`)
		require.Equal(t, [2]string{"9s", "250ms"}, get(tx))
		require.NoError(t, tx.Commit())
		require.Equal(t, defaults, get(db))
	})
	t.Run("aborted transaction", func(t *testing.T) {
		tx := db.MustBegin()
		defer func() { _ = tx.Rollback() }()
		_, err := tx.Exec(`SELECT 1/0`)
		require.Error(t, err)
		_, err = pgsetting.Off(ctx, tx, names...)
		require.ErrorContains(t, err, "reading statement_timeout, lock_timeout")
		require.NoError(t, tx.Rollback())
		require.Equal(t, defaults, get(db))
	})
	t.Run("context ended during a statement", func(t *testing.T) {
		tx := db.MustBegin()
		defer func() { _ = tx.Rollback() }()
		_, err := pgsetting.Off(ctx, tx, names...)
		require.NoError(t, err)
		sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err = tx.ExecContext(sctx, `SELECT pg_sleep(5)`) // longer than the database's 300ms
		cancel()
		_ = tx.Rollback()
		require.ErrorContains(t, err, "57014") // lib/pq's cancel, which also closes the session
		require.Equal(t, defaults, get(db))
	})
	t.Run("context ended before the setting back, committed anyway", func(t *testing.T) {
		tx := db.MustBegin()
		defer func() { _ = tx.Rollback() }()
		restore, err := pgsetting.Off(ctx, tx, names...)
		require.NoError(t, err)
		ended, cancel := context.WithCancel(ctx)
		cancel()
		require.ErrorIs(t, restore(ended), context.Canceled)
		require.NoError(t, tx.Commit()) // against Off's doc: nothing outlives tx all the same
		require.Equal(t, defaults, get(db))
	})
}
