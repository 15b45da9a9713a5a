package schema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// The package documentation: "Errors name the schema". An application
// migrating several schemas must be able to tell from the error which one
// failed, also when the database cannot be reached (Migrate cannot begin
// its transaction) or the caller's transaction is unusable (MigrateTx).
func TestErrorsNameTheSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const name = "tenant_named_in_errors"

	closed := pgtest.NewDB(t)
	must(t, closed.Close())
	err := schema.Migrate(ctx, closed, schema.WithSchema(name))
	if err == nil {
		t.Fatal("Migrate on a closed pool: want an error")
	}
	if got := err.Error(); !strings.Contains(got, `"`+name+`"`) {
		t.Errorf("Migrate on an unreachable database: %q does not name schema %q", got, name)
	}

	db := pgtest.NewDB(t)
	tx, err := db.BeginTxx(ctx, nil)
	must(t, err)
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT 1/0`); err == nil {
		t.Fatal("SELECT 1/0: want an error")
	}
	err = schema.MigrateTx(ctx, tx, schema.WithSchema(name))
	if err == nil {
		t.Fatal("MigrateTx in an aborted transaction: want an error")
	}
	if got := err.Error(); !strings.Contains(got, `"`+name+`"`) {
		t.Errorf("MigrateTx in an aborted transaction: %q does not name schema %q", got, name)
	}
}
