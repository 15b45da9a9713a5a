package schema_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// An embedder's first call is Migrate, often with a *sqlx.DB that an
// earlier error path left nil, or with an Option chosen by a condition that
// left it nil. Each entry point must say so in an error, not panic with a
// nil-pointer dereference in the deploy step.
func TestRV146NilDatabaseOrOptionIsAnError(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	var nilDB *sqlx.DB
	var nilTx *sqlx.Tx
	var nilOpt schema.Option
	cases := map[string]func() error{
		"Migrate nil db":            func() error { return schema.Migrate(ctx, nil) },
		"MigrateTx nil tx":          func() error { return schema.MigrateTx(ctx, nil) },
		"CheckCurrent nil":          func() error { return schema.CheckCurrent(ctx, nil) },
		"CheckCurrent typed nil db": func() error { return schema.CheckCurrent(ctx, nilDB) },
		"CheckCurrentTx nil tx":     func() error { return schema.CheckCurrentTx(ctx, nil) },
		"CheckVersion typed nil tx": func() error { _, err := schema.CheckVersion(ctx, nilTx); return err },
		"Versions nil":              func() error { _, err := schema.Versions(ctx, nil); return err },
		"Migrate nil option":        func() error { return schema.Migrate(ctx, db, nilOpt) },
		"CheckCurrent nil option":   func() error { return schema.CheckCurrent(ctx, db, schema.WithSchema("x"), nilOpt) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
					}
				}()
				return f()
			}()
			if err == nil || !strings.HasPrefix(err.Error(), "schema: ") {
				t.Fatalf("want a schema error, got %v", err)
			}
			t.Log(err)
		})
	}
}
