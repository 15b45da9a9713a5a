package schema_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// CheckCurrentTx holds the schema at its version until the transaction
// ends: a migrator (here down one version, as a rollback's would) waits for
// it, and a transaction that checks after it sees the version it left.
func TestCheckCurrentTxHoldsTheVersion(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	opt := schema.WithSchema("held")
	must(t, schema.Migrate(ctx, db, opt))

	tx, err := db.BeginTxx(ctx, nil)
	must(t, err)
	defer func() { _ = tx.Rollback() }()
	must(t, schema.CheckCurrentTx(ctx, tx, opt))
	migrated := make(chan error, 1)
	go func() { migrated <- schema.Migrate(ctx, db, opt, schema.WithTargetVersion(schema.Latest()-1)) }()
	select {
	case err := <-migrated:
		t.Fatalf("Migrate did not wait for the transaction that checked the version: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	must(t, tx.Commit())
	must(t, <-migrated)

	tx, err = db.BeginTxx(ctx, nil)
	must(t, err)
	defer func() { _ = tx.Rollback() }()
	if err := schema.CheckCurrentTx(ctx, tx, opt); !errors.Is(err, schema.ErrNotMigrated) {
		t.Fatalf("after the migration down: got %v, want ErrNotMigrated", err)
	}
}
