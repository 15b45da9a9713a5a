package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// readingHandler is a Reader that records, for each batch, what its
// ReadBatch saw of the checkpoint and whether it was told it read early,
// and checks in HandleBatch that the batch before has committed.
type readingHandler struct {
	slow time.Duration
	// fail, if set, is called by HandleBatch; an error fails the batch.
	fail func(b *ingest.Batch) error

	mu    sync.Mutex
	reads []readRecord
	// wrongOrder lists the batches whose HandleBatch found the checkpoint
	// elsewhere than at their FromOffset.
	wrongOrder []string
	// readFor counts ReadBatch calls by FromOffset.
	readFor map[int64]int
	// read is closed-over notification of each ReadBatch, for tests that
	// wait for one.
	onRead func(b *ingest.Batch)
}

type readRecord struct {
	from, seen int64
	early      bool
}

func checkpointOffset(ctx context.Context, tx *sqlx.Tx) (int64, error) {
	var off int64
	err := tx.GetContext(ctx, &off, `SELECT ledger_offset FROM txhistory.checkpoint`)
	return off, err
}

func (h *readingHandler) ReadBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) (any, error) {
	seen, err := checkpointOffset(ctx, tx)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.readFor == nil {
		h.readFor = map[int64]int{}
	}
	h.readFor[b.FromOffset]++
	h.reads = append(h.reads, readRecord{from: b.FromOffset, seen: seen})
	i := len(h.reads) - 1
	onRead := h.onRead
	h.mu.Unlock()
	if onRead != nil {
		onRead(b)
	}
	return i, nil
}

func (h *readingHandler) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	if v, early := b.Read(); v != nil {
		h.mu.Lock()
		h.reads[v.(int)].early = early
		h.mu.Unlock()
	}
	seen, err := checkpointOffset(ctx, tx)
	if err != nil {
		return err
	}
	if seen != b.FromOffset {
		h.mu.Lock()
		h.wrongOrder = append(h.wrongOrder, fmt.Sprintf("batch %d..%d saw the checkpoint at %d", b.FromOffset, b.ToOffset, seen))
		h.mu.Unlock()
	}
	if h.fail != nil {
		if err := h.fail(b); err != nil {
			return err
		}
	}
	time.Sleep(h.slow)
	return effectsHandler(ctx, tx, b)
}

// The pipeline starts a batch (its claim and its reads) while the batch
// before it is still being written, but runs HandleBatch only once that
// batch has committed: every HandleBatch finds the checkpoint at its
// batch's FromOffset, and some reads ran, and said so, before it got there.
func TestPipelineHandlesAfterTheBatchBeforeCommitted(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 400)
	h := &readingHandler{slow: 3 * time.Millisecond}
	runToEnd(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, StreamBuffer: 10})
	requireAllOnce(t, b)
	require.Empty(t, h.wrongOrder)

	var early, stale int
	for _, r := range h.reads {
		if r.early {
			early++
		}
		if r.seen < r.from {
			stale++
			require.True(t, r.early, "a read of batch after %d saw the checkpoint at %d but was not told it read early", r.from, r.seen)
		}
	}
	t.Logf("%d reads, %d told early, %d before the batch before committed", len(h.reads), early, stale)
	require.Positive(t, stale, "the pipeline never read ahead of a commit")
}

// A batch that fails while the next one has started: the next one is
// rolled back, the failed one is committed again, and the next one is
// started (and read) again after it. Nothing is lost or applied twice.
func TestPipelineRetriesAFailedBatchAndRestartsTheNext(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 200)
	var (
		once      sync.Once
		failing   atomic.Int64 // FromOffset of the batch that fails, once known
		nextRead  = make(chan struct{})
		nextReadO sync.Once
	)
	failing.Store(-1)
	h := &readingHandler{slow: time.Millisecond}
	h.onRead = func(batch *ingest.Batch) {
		if f := failing.Load(); f >= 0 && batch.FromOffset > f {
			nextReadO.Do(func() { close(nextRead) })
		}
	}
	h.fail = func(batch *ingest.Batch) error {
		var err error
		if batch.FromOffset > 50 {
			once.Do(func() {
				failing.Store(batch.FromOffset)
				// Let the next batch start before this one fails.
				select {
				case <-nextRead:
				case <-time.After(2 * time.Second):
				}
				err = &pq.Error{Code: "40001", Message: "could not serialize access (injected)"}
			})
		}
		return err
	}
	runToEnd(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, StreamBuffer: 10})
	requireAllOnce(t, b)
	require.Empty(t, h.wrongOrder)
	failedAt := failing.Load()
	require.Positive(t, failedAt, "the fault was injected")
	h.mu.Lock()
	defer h.mu.Unlock()
	require.GreaterOrEqual(t, h.readFor[failedAt], 2, "the failed batch was read again")
	for from, n := range h.readFor {
		if from > failedAt && n > 1 {
			return // the batch after it was started again
		}
	}
	t.Fatalf("no batch after offset %d was started twice: reads %v", failedAt, h.readFor)
}

// With too few connections for two batches and the ingestion lock, the
// pipeline is off: nothing is read early, and ingestion works.
func TestPipelineOffWithFewConnections(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 100)
	b.db.SetMaxOpenConns(2)
	h := &readingHandler{}
	runToEnd(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, StreamBuffer: 10})
	requireAllOnce(t, b)
	require.Empty(t, h.wrongOrder)
	require.NotEmpty(t, h.reads, "ReadBatch never ran: nothing to tell early reads by")
	for _, r := range h.reads {
		require.False(t, r.early)
		require.Equal(t, r.from, r.seen)
	}
}

// A pool of one connection cannot hold the ingestion lock and a batch:
// New and Run refuse it rather than wait for ever; without the lock it
// works, one batch after the other.
func TestPoolOfOneConnection(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	b.db.SetMaxOpenConns(1)
	_, err := ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler})
	require.ErrorIs(t, err, ingest.ErrPoolTooSmall)

	b.db.SetMaxOpenConns(0)
	ing, err := ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, err)
	b.db.SetMaxOpenConns(1) // changed after New
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.ErrorIs(t, ing.Run(ctx), ingest.ErrPoolTooSmall)

	runToEnd(t, b, ingest.Config{Handler: effectsHandler, Lock: ingest.LockNone})
	requireAllOnce(t, b)
}
