package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A batch that the database's statement_timeout cancels every time (a
// Handler statement whose work grows with the batch: here 100 ms per
// transaction under a 300 ms timeout) while each of its transactions alone
// fits. Under PoisonSetAside the batch went through one transaction at a
// time (handleSplit), nothing set aside. Since 57014 is a transient fault
// the same batch is retried whole, with the same transactions, until
// MaxAttempts is spent (for ever with MaxAttempts 0): ingestion is stuck
// where it went on before, and a restart builds the same batch again.
func TestBatchThatAlwaysTimesOutIsNotRetriedForEver(t *testing.T) {
	ingestEachAloneUnderTimeout(t, ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_sleep($1)`, 0.1*float64(len(batch.Transactions))); err != nil {
			return err
		}
		return effectsHandler(ctx, tx, batch)
	}))
}

// ingestEachAloneUnderTimeout ingests 40 transactions, in batches of up to
// 10, with h under PoisonSetAside, MaxAttempts 5 and a statement_timeout of
// 300 ms: everything must be ingested once and nothing set aside.
func ingestEachAloneUnderTimeout(t *testing.T, h ingest.Handler) {
	t.Helper()
	b := setup(t)
	appendN(t, b.p, 0, 40)
	tb := withDatabaseStatementTimeout(t, b, 300*time.Millisecond)
	ing := newIngester(t, tb, ingest.Config{Handler: h, MaxBatchSize: 10, MaxAttempts: 5,
		EndOffset: b.p.LedgerEnd(), Poison: ingest.PoisonSetAside})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	aside, err := ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Empty(t, aside)
	requireAllOnce(t, b)
}

// sleepyReader reads for 100 ms per transaction of the batch.
type sleepyReader struct{}

func (sleepyReader) ReadBatch(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) (any, error) {
	_, err := tx.ExecContext(ctx, `SELECT pg_sleep($1)`, 0.1*float64(len(batch.Transactions)))
	return nil, err
}

func (sleepyReader) HandleBatch(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
	return effectsHandler(ctx, tx, batch)
}

// The same with the Handler's read (Reader) timing out every time: its
// batch must go through one transaction at a time too (where ReadBatch is
// not called), not be retried whole for ever.
func TestBatchWhoseReadAlwaysTimesOutIsNotRetriedForEver(t *testing.T) {
	ingestEachAloneUnderTimeout(t, sleepyReader{})
}
