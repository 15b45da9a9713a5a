package ingest_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// A replayed batch (every transaction dropped by dedup) whose COMMIT
// reply is lost is recognised on its retry as committed; Stats must still
// count its transactions as skipped, not as new. The retry counted every
// transaction of the batch as new (Stats.Transactions), whatever the
// commit had dropped.
func TestLostCommitReplyKeepsStatsOfSkipped(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 100)
	runToEnd(t, b, ingest.Config{})
	before := readState(t, b.db)
	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	tx := b.db.MustBegin()
	first := b.p.Transactions()[0]
	require.NoError(t, store.RewindTx(context.Background(), tx, checkpoint.Rewind{
		From: before.Checkpoint.Offset, To: 0, Mode: "test",
		SynchronizerID: first.SynchronizerID, RecoveryTime: first.RecordTime.Add(-time.Microsecond),
	}))
	require.NoError(t, tx.Commit())

	base, err := pq.NewConnector(b.dsn)
	require.NoError(t, err)
	conn := &lostReplyConnector{Connector: base}
	conn.failAt.Store(2)
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	t.Cleanup(func() { db.Close() })
	ing, err := ingest.New(db, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, Logger: quietLog,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, MaxBatchSize: 20, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	require.GreaterOrEqual(t, conn.commits.Load(), int64(2), "the lost reply was not injected")
	requireAllOnce(t, b)
	require.Equal(t, int64(0), ing.Stats().Transactions, "transactions counted as new")
	require.Equal(t, int64(len(treasuryTxs(b.p))), ing.Stats().Skipped)
}
