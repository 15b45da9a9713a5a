package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// migrateAsNewerRelease does what a newer release's schema.Migrate does to
// the schema: under the migration lock (schema's lockClass "txmg"), a
// change of a table the batches write and the record of a version this
// build does not know, in one transaction.
func migrateAsNewerRelease(t testing.TB, ctx context.Context, b *testBundle) {
	t.Helper()
	tx, err := b.db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(1954049383, hashtext('txhistory'))`) // "txmg"
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `ALTER TABLE txhistory.ingested_update ADD COLUMN from_a_newer_release text`)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
}

// A rolling upgrade: the newer release's migration runs while this
// release's Ingester holds the lock and ingests. The Ingester checks the
// schema's version only when it takes the lock; the one already running
// must stop writing too, as the withdrawal Automation does (every round),
// or it writes rows the newer release's migrations (their backfills) never
// saw, into tables that are no longer this build's.
func TestRunningIngesterStopsOnASchemaANewerReleaseMigrated(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 30)
	ing := newIngester(t, b, ingest.Config{})
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)

	migrateAsNewerRelease(t, ctx, b)
	migratedAt := b.p.LedgerEnd()
	appendN(t, b.p, 30, 30)

	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		ing.Stop()
		<-done
		t.Fatalf("the running Ingester (a build that knows up to %03d) went on over a schema at %03d: ingested up to offset %d, past %d where the schema was migrated",
			schema.Latest(), schema.Latest()+1, ing.Stats().Offset, migratedAt)
	}
	require.ErrorIs(t, err, schema.ErrUnknownVersion)
	var after int
	require.NoError(t, b.db.Get(&after, `SELECT count(*) FROM effects WHERE ledger_offset > $1`, migratedAt))
	require.Zero(t, after, "transactions after the migration were written")
	require.Equal(t, migratedAt, readState(t, b.db).Checkpoint.Offset)
}
