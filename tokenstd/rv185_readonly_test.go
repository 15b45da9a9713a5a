package tokenstd_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// RenumberAfterRestore given the pool, on a database whose DBA set
// default_transaction_read_only = on (OPERATIONS.md: txhistory's writes go
// on, for lib/pq begins every transaction READ WRITE): the sequence moves,
// as the restore runbook needs before ingestion starts again.
func TestRV185RenumberUnderDefaultReadOnly(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema(testSchema)))
	_, err := db.ExecContext(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$`)
	require.NoError(t, err)
	db.SetMaxIdleConns(0) // new sessions take the setting
	db.SetMaxIdleConns(2)
	var ro string
	require.NoError(t, db.GetContext(ctx, &ro, `SHOW default_transaction_read_only`))
	require.Equal(t, "on", ro)

	var before int64
	require.NoError(t, db.GetContext(ctx, &before, `SELECT last_value FROM `+historySeq))
	require.NoError(t, tokenstd.RenumberAfterRestore(ctx, db, testSchema))
	var after int64
	require.NoError(t, db.GetContext(ctx, &after, `SELECT last_value FROM `+historySeq))
	require.Greater(t, after, before, "the history's sequence did not move")
}
