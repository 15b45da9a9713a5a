package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// The runbook's step 6 run with an older release's tool (a runbook
// binary left on it, or a rollback of the binaries without migrating the
// schema down) on a schema a newer release migrated: the rewind writes the
// checkpoint and its audit as this build knows them, on tables that are
// the newer release's (010's parties are the example of what a checkpoint
// may come to hold). Ingestion is stopped for the runbook, so nothing else
// refuses the schema first; Apply must.
func TestApplyRefusesASchemaANewerReleaseMigrated(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	restoredAfter(t, b, script(30), 10, "tx-00025")
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	_, err = b.db.ExecContext(ctx, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
	require.NoError(t, err)
	before := readState(t, b.db)

	err = recovery.Apply(ctx, b.db, rw)
	var rewinds int
	require.NoError(t, b.db.GetContext(ctx, &rewinds, `SELECT count(*) FROM txhistory.checkpoint_rewind`))
	require.Zero(t, rewinds, "Apply moved the checkpoint (offset %d to %d) on a schema a newer release migrated to %03d (this build knows %03d)", rw.From, rw.To, schema.Latest()+1, schema.Latest())
	require.Equal(t, before, readState(t, b.db))
	require.ErrorIs(t, err, schema.ErrUnknownVersion)
}
