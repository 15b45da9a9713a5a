package checkpoint_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// SetParties takes a sqlx.ExecerContext, which database/sql's pool and
// connection (*sql.DB, *sql.Conn) are, as dedup.Store.PruneBefore takes
// them: given either, it must write in a transaction of its own too, or a
// DBA's default_transaction_read_only = on refuses its UPDATE (25006),
// though its doc and OPERATIONS.md say txhistory writes only in
// transactions, the statements it runs alone given a pool included.
func TestRV192SetPartiesGivenDatabaseSQLUnderDefaultReadOnly(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDSN(t)
	setupDB, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer setupDB.Close()
	require.NoError(t, schema.Migrate(ctx, setupDB, schema.WithSchema("ck")))
	s, err := checkpoint.NewStore("ck")
	require.NoError(t, err)
	_, err = s.Init(ctx, setupDB, 5)
	require.NoError(t, err)
	_, err = setupDB.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$`)
	require.NoError(t, err)
	setupDB.Close()

	pool, err := sql.Open("postgres", dsn) // new sessions take the setting
	require.NoError(t, err)
	defer pool.Close()
	var ro string
	require.NoError(t, pool.QueryRow(`SHOW default_transaction_read_only`).Scan(&ro))
	require.Equal(t, "on", ro)
	db := sqlx.NewDb(pool, "postgres")

	require.NoError(t, s.SetParties(ctx, pool, nil, []string{"a::1"}), "given a *sql.DB")
	got, _, err := s.Get(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{"a::1"}, got.Parties)

	conn, err := pool.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, s.SetParties(ctx, conn, []string{"a::1"}, []string{"a::1", "b::1"}), "given a *sql.Conn")
	got, _, err = s.Get(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{"a::1", "b::1"}, got.Parties)
	require.Equal(t, int64(5), got.Offset)
}
