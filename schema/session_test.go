package schema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// A caller's temporary table of the same name as one of the schema's must
// not take the migration's statements: PostgreSQL searches pg_temp first
// unless the search path names it.
func TestMigrateTxIgnoresTheCallersTemporaryTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)

	// 007 alters withdrawal, which 003 created.
	must(t, schema.Migrate(ctx, db, schema.WithSchema("tmpshadow"), schema.WithTargetVersion(6)))

	tx, err := db.BeginTxx(ctx, nil)
	must(t, err)
	defer tx.Rollback()
	mustExec(t, tx, `CREATE TEMP TABLE withdrawal (x integer) ON COMMIT DROP`)
	must(t, schema.MigrateTx(ctx, tx, schema.WithSchema("tmpshadow"), schema.WithTargetVersion(7)))

	var inSchema, inTemp int
	mustGet(t, tx, &inSchema, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = 'tmpshadow' AND table_name = 'withdrawal' AND column_name = 'ledger_node_id'`)
	mustGet(t, tx, &inTemp, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = pg_my_temp_schema()::regnamespace::text AND table_name = 'withdrawal'`)
	if inSchema != 1 || inTemp != 1 {
		t.Fatalf("after 007: ledger_node_id in tmpshadow.withdrawal %d times (want 1), temporary withdrawal has %d columns (want 1, untouched)", inSchema, inTemp)
	}
	must(t, tx.Commit())
}

// Migrate brings its own isolation: a database whose default is REPEATABLE
// READ must not make concurrent migrators fail on each other's work.
func TestMigrateUnderRepeatableReadDefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDSN(t)

	admin, err := sqlx.Open("postgres", dsn)
	must(t, err)
	mustExec(t, admin, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = %L', current_database(), 'repeatable read'); END $$`)
	must(t, admin.Close())

	db, err := sqlx.Open("postgres", dsn)
	must(t, err)
	t.Cleanup(func() { _ = db.Close() })
	var level string
	mustGet(t, db, &level, `SHOW default_transaction_isolation`)
	if level != "repeatable read" {
		t.Fatalf("default_transaction_isolation = %q, the test did not set it up", level)
	}

	migrateConcurrently(t, db, "rr")
	versions, err := schema.Versions(ctx, db, schema.WithSchema("rr"))
	must(t, err)
	if len(versions) != schema.Latest() {
		t.Fatalf("Versions = %+v, want each version once", versions)
	}

	// MigrateTx cannot choose: it refuses the caller's REPEATABLE READ
	// transaction instead of missing a concurrent migrator's work.
	tx, err := db.BeginTxx(ctx, nil)
	must(t, err)
	defer tx.Rollback()
	err = schema.MigrateTx(ctx, tx, schema.WithSchema("rr2"))
	if err == nil || !strings.Contains(err.Error(), "needs a READ COMMITTED transaction, this one is REPEATABLE READ") {
		t.Fatalf("MigrateTx in a REPEATABLE READ transaction: got %v, want a refusal naming the isolation", err)
	}
}
