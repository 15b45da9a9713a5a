package schema_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// The version checks whose context ends while their statement waits (here
// for a lock another session holds on the migration table: a migrator of
// another tool, a pg_restore; or for the migration lock a migrator holds)
// report that end as Migrate does: errors.Is
// finds context.DeadlineExceeded, not only lib/pq's "canceling statement
// due to user request", so that a service's start-up check under a
// deadline can tell it from a database fault.
func TestRV97ReadEndedMidStatementReportsTheContext(t *testing.T) {
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(context.Background(), db))
	checkCurrentTx := func(ctx context.Context) error {
		tx, err := db.Beginx()
		require.NoError(t, err)
		defer tx.Rollback()
		return schema.CheckCurrentTx(ctx, tx)
	}
	for _, c := range []struct {
		name     string
		migrator bool // the other session holds the migration lock (MigrateTx), not the table's
		run      func(ctx context.Context) error
	}{
		{"CheckCurrent", false, func(ctx context.Context) error { return schema.CheckCurrent(ctx, db) }},
		{"CheckVersion", false, func(ctx context.Context) error {
			_, err := schema.CheckVersion(ctx, db)
			return err
		}},
		{"Versions", false, func(ctx context.Context) error {
			_, err := schema.Versions(ctx, db)
			return err
		}},
		{"CheckCurrentTx", false, checkCurrentTx},
		{"CheckCurrentTx/migrator", true, checkCurrentTx},
	} {
		t.Run(c.name, func(t *testing.T) {
			lock, err := db.Beginx()
			require.NoError(t, err)
			defer lock.Rollback()
			if c.migrator {
				require.NoError(t, schema.MigrateTx(context.Background(), lock))
			} else {
				_, err = lock.Exec(`LOCK TABLE ` + schema.Qualify(schema.DefaultName, schema.MigrationTable) + ` IN ACCESS EXCLUSIVE MODE`)
				require.NoError(t, err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err = c.run(ctx)
			require.Error(t, err)
			require.True(t, errors.Is(err, context.DeadlineExceeded), "the context ended mid-statement, but the error does not say so: %v", err)
		})
	}
}
