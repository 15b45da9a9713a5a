package dedup_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// PruneBefore takes any sqlx.ExecerContext, and an exchange's retention job
// on database/sql (a *sql.DB, a connection or a transaction of it, as
// sqlx.DB.DB gives) pruned through it before the schema's version was
// checked. The check must not turn that job into an error at run time: the
// version is checked in a transaction of database/sql as of sqlx.
func TestPruneBeforeThroughDatabaseSQL(t *testing.T) {
	ctx := context.Background()
	db, s := migratedStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	claim(t, db, s, tx("u1", 1, t0), tx("u2", 2, t0.Add(time.Second)), tx("u3", 3, t0.Add(2*time.Second)), tx("u4", 4, t0.Add(3*time.Second)))

	conn, err := db.DB.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	sqlTx, err := db.DB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	require.NoError(t, err)
	defer func() { _ = sqlTx.Rollback() }()
	cuts := []struct {
		name string
		q    sqlx.ExecerContext
		cut  time.Time
	}{{"a *sql.DB", db.DB, t0.Add(time.Second)}, {"a *sql.Conn", conn, t0.Add(2 * time.Second)}, {"a *sql.Tx", sqlTx, t0.Add(3 * time.Second)}}
	for _, c := range cuts {
		pruned, err := s.PruneBefore(ctx, c.q, c.cut)
		require.NoError(t, err, "PruneBefore through %s", c.name)
		require.EqualValues(t, 1, pruned, "PruneBefore through %s", c.name)
	}
	require.NoError(t, sqlTx.Commit())
	n, err := s.Count(ctx, db)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "u4 is left")
}
