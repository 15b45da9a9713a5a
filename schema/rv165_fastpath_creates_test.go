package schema_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// Migrate's doc says it creates the schema and the migration table if they
// are missing, so that a DBA can have them made and then grant a less
// privileged role what it needs (ingestd -migrate-only -migrate-to 0 on a
// new database). Migrating a database that has neither to version 0 has
// nothing to apply, and Migrate's read without the lock must not take that
// for a schema already at its target.
func TestRV165MigrateToZeroCreatesTheSchemaAndItsTable(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	opt := schema.WithSchema("fresh_zero")
	must(t, schema.Migrate(ctx, db, opt, schema.WithTargetVersion(0)))

	var table bool
	mustGet(t, db, &table, `SELECT to_regclass($1) IS NOT NULL`, schema.Qualify("fresh_zero", schema.MigrationTable))
	if !table {
		t.Fatalf("Migrate to version 0 of a new database returned nil without creating schema %q and %s", "fresh_zero", schema.MigrationTable)
	}
	v, err := schema.CheckVersion(ctx, db, opt)
	must(t, err)
	if v != 0 {
		t.Fatalf("version %d, want 0", v)
	}
}
