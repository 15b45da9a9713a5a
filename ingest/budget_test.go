package ingest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// batchSizes records the number of transactions of each batch it handles,
// and writes the effects rows.
type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (h *batchSizes) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	h.mu.Lock()
	h.sizes = append(h.sizes, len(b.Transactions))
	h.mu.Unlock()
	return effectsHandler.HandleBatch(ctx, tx, b)
}

func (h *batchSizes) max() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := 0
	for _, n := range h.sizes {
		m = max(m, n)
	}
	return m
}

// TestStreamBufferBytesBoundsWhatIsPending: with StreamBufferBytes smaller
// than any update, the reader takes one update at a time and waits for its
// batch to commit, so no batch holds more than one transaction, and every
// transaction is still ingested once. With the default bound the same
// ledger, read ahead while batches commit, makes bigger batches.
func TestStreamBufferBytesBoundsWhatIsPending(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 120)
	one := &batchSizes{}
	runToEnd(t, b, ingest.Config{Handler: one, MaxBatchSize: 16, StreamBufferBytes: 1})
	requireAllOnce(t, b)
	require.Equal(t, 1, one.max(), "one update at a time: batches of one transaction")
	require.Len(t, one.sizes, len(treasuryTxs(b.p)))

	b = setup(t)
	appendN(t, b.p, 0, 120)
	dflt := &batchSizes{}
	runToEnd(t, b, ingest.Config{Handler: dflt, MaxBatchSize: 16})
	requireAllOnce(t, b)
	require.Greater(t, dflt.max(), 1, "with the default bound the reader reads ahead")
}
