package dedup_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A rolling upgrade: a newer release has migrated the schema, and the
// exchange's retention job of the older release prunes the dedup table by
// this build's rule of what a restore's replay needs kept. The newer
// release's rule (or its use of the table) may keep more; the Ingester
// stops on such a schema, and PruneBefore must refuse it too, whatever
// it is given: the pool, a connection or a transaction.
func TestPruneBeforeRefusesASchemaANewerReleaseMigrated(t *testing.T) {
	ctx := context.Background()
	db, s := migratedStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	claim(t, db, s, []*ledger.Transaction{tx("u1", 1, t0), tx("u2", 2, t0.Add(time.Second))}...)
	_, err := db.ExecContext(ctx, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
	require.NoError(t, err)

	conn, err := db.Connx(ctx)
	require.NoError(t, err)
	defer conn.Close()
	sqlTx, err := db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = sqlTx.Rollback() }()
	for name, q := range map[string]sqlx.ExecerContext{"the pool": db, "a connection": conn, "a transaction": sqlTx} {
		pruned, err := s.PruneBefore(ctx, q, t0.Add(time.Hour))
		assert.Zero(t, pruned, "PruneBefore through %s pruned on a schema a newer release migrated to %03d (this build knows %03d)", name, schema.Latest()+1, schema.Latest())
		assert.ErrorIs(t, err, schema.ErrUnknownVersion, "PruneBefore through %s", name)
	}
	require.NoError(t, sqlTx.Rollback())
	n, err := s.Count(ctx, db)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
}
