package schema_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// A set-aside transaction is resolved once its effects are dealt with, and
// the resolution says what was done: Ingester.ResolveSetAside refuses an
// empty one. docs/OPERATIONS.md also lets operators resolve with an UPDATE
// of their own (resolved_at, resolution); the table must refuse one that
// sets resolved_at and says nothing, for resolving releases the withdrawal
// expiry and the gate, and the audit would not say why. A row resolved so
// before the constraint keeps a resolution saying so, and the migration
// runs on such a table.
func TestRV139ResolvedSetAsideNeedsAResolution(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	must(t, schema.Migrate(ctx, db, schema.WithTargetVersion(10)))
	mustExec(t, db, `INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error, resolved_at)
		VALUES ('upd-old', 1, 'e', now())`)
	must(t, schema.Migrate(ctx, db))
	var old string
	mustGet(t, db, &old, `SELECT resolution FROM txhistory.review_transaction WHERE update_id = 'upd-old'`)
	if old == "" {
		t.Fatal("a row resolved without a resolution before the migration still has none")
	}

	mustExec(t, db, `INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error) VALUES ('upd-1', 2, 'e')`)
	for _, q := range []string{
		`UPDATE txhistory.review_transaction SET resolved_at = now() WHERE update_id = 'upd-1'`,
		`UPDATE txhistory.review_transaction SET resolved_at = now(), resolution = ' ' WHERE update_id = 'upd-1'`,
		`INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error, resolved_at) VALUES ('upd-2', 3, 'e', now())`,
	} {
		_, err := db.ExecContext(ctx, q)
		var pe *pq.Error
		if !errors.As(err, &pe) || pe.Code != "23514" {
			t.Errorf("%s: got %v, want a check violation (23514)", q, err)
		}
	}
	mustExec(t, db, `UPDATE txhistory.review_transaction SET resolved_at = now(), resolution = 'credited by hand' WHERE update_id = 'upd-1'`)
}
