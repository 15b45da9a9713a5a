package schema_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// CheckCurrentTx holds the schema at its version until the transaction
// ends: a migrator (here down one version, as a rollback's would) waits for
// it, and a transaction that checks after it sees the version it left.
func TestCheckCurrentTxHoldsTheVersion(t *testing.T) {
	ctx := context.Background()
	db, opt := migratedDB(t, "held")

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

// A transaction that checks while a migrator holds the lock waits for it,
// and then reads the version the migrator committed, not the one before:
// a batch queued behind a newer release's migration stops.
func TestCheckCurrentTxAfterAMigratorCommits(t *testing.T) {
	ctx := context.Background()
	db, opt := migratedDB(t, "queued")

	migrator, err := db.BeginTxx(ctx, nil)
	must(t, err)
	defer func() { _ = migrator.Rollback() }()
	must(t, schema.MigrateTx(ctx, migrator, opt, schema.WithTargetVersion(schema.Latest()-1)))

	checked := make(chan error, 1)
	go func() {
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			checked <- err
			return
		}
		defer func() { _ = tx.Rollback() }()
		checked <- schema.CheckCurrentTx(ctx, tx, opt)
	}()
	select {
	case err := <-checked:
		t.Fatalf("CheckCurrentTx did not wait for the migrator holding the lock: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	must(t, migrator.Commit())
	if err := <-checked; !errors.Is(err, schema.ErrNotMigrated) {
		t.Fatalf("after the migrator committed version %03d: got %v, want ErrNotMigrated", schema.Latest()-1, err)
	}
}

// migratedDB is a database of its own with schema name migrated to this
// build's version, and the option naming it.
func migratedDB(tb testing.TB, name string) (*sqlx.DB, schema.Option) {
	tb.Helper()
	db := pgtest.NewDB(tb)
	opt := schema.WithSchema(name)
	if err := schema.Migrate(context.Background(), db, opt); err != nil {
		tb.Fatal(err)
	}
	return db, opt
}

// A schema never migrated (missing, or without the migration table) is
// ErrNotMigrated at version 000 in a transaction too, as CheckCurrent says
// outside one: the caller that waits for a migration (a restore of an
// older backup) tells it from a fault.
func TestCheckCurrentTxNeverMigrated(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	mustExec(t, db, `CREATE SCHEMA bare`)
	for _, name := range []string{"missing", "bare"} {
		tx, err := db.BeginTxx(ctx, nil)
		must(t, err)
		err = schema.CheckCurrentTx(ctx, tx, schema.WithSchema(name))
		_ = tx.Rollback()
		if !errors.Is(err, schema.ErrNotMigrated) || !strings.Contains(err.Error(), "version 000") {
			t.Fatalf("schema %q never migrated: got %v, want ErrNotMigrated at version 000", name, err)
		}
	}
}

// A writer's transaction at REPEATABLE READ or SERIALIZABLE (a database or
// role default, or its own TxOptions) has its snapshot from before the
// lock's wait: after a migrator commits, the version it reads is the one
// before. CheckCurrentTx must not pass it, as MigrateTx refuses such a
// transaction.
func TestCheckCurrentTxRefusesASnapshotBeforeTheLock(t *testing.T) {
	ctx := context.Background()
	db, opt := migratedDB(t, "snap")
	for _, level := range []sql.IsolationLevel{sql.LevelRepeatableRead, sql.LevelSerializable} {
		migrator, err := db.BeginTxx(ctx, nil)
		must(t, err)
		must(t, schema.MigrateTx(ctx, migrator, opt, schema.WithTargetVersion(schema.Latest()-1)))
		checked := make(chan error, 1)
		go func() {
			tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: level})
			if err != nil {
				checked <- err
				return
			}
			defer func() { _ = tx.Rollback() }()
			checked <- schema.CheckCurrentTx(ctx, tx, opt)
		}()
		time.Sleep(300 * time.Millisecond)
		must(t, migrator.Commit())
		err = <-checked
		if err == nil || !strings.Contains(err.Error(), "READ COMMITTED") {
			t.Fatalf("%v, after the migrator committed version %03d: got %v, want a refusal naming READ COMMITTED", level, schema.Latest()-1, err)
		}
		must(t, schema.Migrate(ctx, db, opt)) // back at Latest for the next level
	}
}
