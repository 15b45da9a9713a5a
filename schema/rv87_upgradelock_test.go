package schema_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// An exchange upgrading in place runs the migration job while its API
// servers and reports read the Integration DB. 007 to 010 alter withdrawal,
// token_instruction and checkpoint (ACCESS EXCLUSIVE, held until the one
// migration transaction commits): queued behind a reader's open
// transaction, the migration makes every later read of those tables wait
// too, for as long as that reader stays open. The operator's guide must say
// so, and how to bound it (lock_timeout), before the first upgrade stalls
// the exchange's withdrawal reads.
func TestRV87UpgradeLocksAreDocumented(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	must(t, schema.Migrate(ctx, db, schema.WithTargetVersion(6)))
	mustExec(t, db, `INSERT INTO txhistory.withdrawal (id, amount, instrument_admin, instrument_id, status)
		SELECT 'w'||g, 1, 'a', 'i', 'completed' FROM generate_series(1, 1000) g`)

	// A report left open on the withdrawals.
	report, err := db.BeginTxx(ctx, nil)
	must(t, err)
	defer func() { _ = report.Rollback() }()
	var n int
	mustGet(t, report, &n, `SELECT count(*) FROM txhistory.withdrawal`)

	migrated := make(chan error, 1)
	go func() { migrated <- schema.Migrate(ctx, db) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting bool
		mustGet(t, db, &waiting, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			WHERE c.relname = 'withdrawal' AND NOT l.granted AND l.mode = 'AccessExclusiveLock')`)
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the migration never waited for the withdrawal table")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// An API server's read of a withdrawal now waits behind the migration.
	conn, err := db.Connx(ctx)
	must(t, err)
	defer conn.Close()
	mustExec(t, conn, `SET statement_timeout = '500ms'`)
	var status string
	if err := conn.GetContext(ctx, &status, `SELECT status FROM txhistory.withdrawal WHERE id = 'w1'`); err == nil || !strings.Contains(err.Error(), "statement timeout") {
		t.Fatalf("a read of withdrawal during the migration's wait: err %v, want a statement timeout (it queues behind the migration)", err)
	}
	mustExec(t, conn, `RESET statement_timeout`)
	must(t, report.Rollback())
	must(t, <-migrated)

	b, err := os.ReadFile("../docs/OPERATIONS.md")
	must(t, err)
	doc := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "`", "")), " ")
	_, upgrade, found := strings.Cut(doc, "Then migrate as the owner")
	if !found {
		t.Fatal("docs/OPERATIONS.md: no migration step")
	}
	upgrade, _, _ = strings.Cut(upgrade, "Then narrow what the defaults gave")
	for _, s := range []string{"ACCESS EXCLUSIVE", "lock_timeout", "withdrawal", "token_instruction"} {
		if !strings.Contains(upgrade, s) {
			t.Errorf("docs/OPERATIONS.md, on migrating, does not say %q: an upgrade queued behind an open reader blocks every read of the tables it alters, unbounded", s)
		}
	}
}

// The remedy OPERATIONS.md gives: a lock_timeout in the migration job's
// DSN makes the migration give up, applying nothing, instead of queueing
// the exchange's reads behind it.
func TestRV87UpgradeLockTimeoutAppliesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	must(t, err)
	defer db.Close()
	must(t, schema.Migrate(ctx, db, schema.WithTargetVersion(6)))
	report, err := db.BeginTxx(ctx, nil)
	must(t, err)
	defer func() { _ = report.Rollback() }()
	var n int
	mustGet(t, report, &n, `SELECT count(*) FROM txhistory.withdrawal`)

	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	if !strings.Contains(dsn, "://") {
		sep = " "
	}
	job, err := sqlx.Open("postgres", dsn+sep+"lock_timeout=300ms")
	must(t, err)
	defer job.Close()
	err = schema.Migrate(ctx, job)
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "55P03" {
		t.Fatalf("Migrate with lock_timeout behind an open reader: %v, want lock_not_available (55P03)", err)
	}
	v, err := schema.CheckVersion(ctx, db)
	must(t, err)
	if v != 6 {
		t.Fatalf("version after the timed-out migration: %d, want 6 (nothing applied)", v)
	}
}
