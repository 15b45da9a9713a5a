package ingest_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// A rolling upgrade: a newer release has migrated the schema, and an
// operator's tool of the older release resolves a set-aside transaction.
// The Ingester stops on such a schema; ResolveSetAside, which an operator
// calls without one running, must refuse it too rather than write the
// resolution as this build does (it releases withdrawal expiry and the
// gate's opening after a restore) into the newer release's review table.
func TestResolveSetAsideRefusesASchemaANewerReleaseMigrated(t *testing.T) {
	b := setup(t)
	ing := newIngester(t, b, ingest.Config{})
	ctx := context.Background()
	_, err := b.db.ExecContext(ctx, `INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error) VALUES ('upd-1', 7, 'a poison transaction')`)
	require.NoError(t, err)
	_, err = b.db.ExecContext(ctx, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
	require.NoError(t, err)

	err = ing.ResolveSetAside(ctx, "upd-1", "credited by hand")
	var resolved bool
	require.NoError(t, b.db.GetContext(ctx, &resolved, `SELECT resolved_at IS NOT NULL FROM txhistory.review_transaction WHERE update_id = 'upd-1'`))
	require.False(t, resolved, "ResolveSetAside resolved a set-aside transaction on a schema a newer release migrated to %03d (this build knows %03d)", schema.Latest()+1, schema.Latest())
	require.ErrorIs(t, err, schema.ErrUnknownVersion)
}
