package schema_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// CheckCurrent accepts only this build's version: a schema never migrated
// or behind is ErrNotMigrated naming its version and Migrate, a newer one
// ErrUnknownVersion.
func TestCheckCurrent(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	behind := func(v int) {
		t.Helper()
		err := schema.CheckCurrent(ctx, db, schema.WithSchema("cur"))
		if !errors.Is(err, schema.ErrNotMigrated) || !strings.Contains(err.Error(), fmt.Sprintf("version %03d", v)) || !strings.Contains(err.Error(), "schema.Migrate") {
			t.Fatalf("schema at version %d: got %v, want ErrNotMigrated naming the version and schema.Migrate", v, err)
		}
	}
	behind(0)
	must(t, schema.Migrate(ctx, db, schema.WithSchema("cur"), schema.WithTargetVersion(schema.Latest()-1)))
	behind(schema.Latest() - 1)
	must(t, schema.Migrate(ctx, db, schema.WithSchema("cur")))
	must(t, schema.CheckCurrent(ctx, db, schema.WithSchema("cur")))
	mustExec(t, db, `INSERT INTO cur.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
	if err := schema.CheckCurrent(ctx, db, schema.WithSchema("cur")); !errors.Is(err, schema.ErrUnknownVersion) {
		t.Fatalf("newer schema: got %v, want ErrUnknownVersion", err)
	}
}
