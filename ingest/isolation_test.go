package ingest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A batch's transaction begins, and claims its update ids, before the batch
// before it commits (pipelining); its HandleBatch must still see that
// commit. The Ingester asks for READ COMMITTED whatever the database's
// default: under REPEATABLE READ the handler would read a snapshot without
// the batch before, and the batch would meet a checkpoint conflict.
func TestPipelineUnderRepeatableReadDefault(t *testing.T) {
	b := setup(t)
	_, err := b.db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = %L', current_database(), 'repeatable read'); END $$`)
	require.NoError(t, err)
	db, err := sqlx.Open("postgres", b.dsn) // new sessions take the new default
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var level string
	require.NoError(t, db.Get(&level, `SHOW default_transaction_isolation`))
	require.Equal(t, "repeatable read", level)
	b.db = db
	appendN(t, b.p, 0, 300)

	var stale, batches atomic.Int64
	slow := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
		batches.Add(1)
		seen, err := checkpointOffset(ctx, tx)
		if err != nil {
			return err
		}
		if seen != bt.FromOffset {
			stale.Add(1)
		}
		time.Sleep(5 * time.Millisecond) // the next batch starts meanwhile
		return effectsHandler(ctx, tx, bt)
	})
	ing := newIngester(t, b, ingest.Config{Handler: slow, MaxBatchSize: 10, EndOffset: b.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	requireAllOnce(t, b)
	require.Greater(t, batches.Load(), int64(5))
	require.Zero(t, stale.Load(), "HandleBatch calls that did not see the batch before")
	require.Empty(t, ing.Stats().Errors, "faults counted on a healthy database")
}
