package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// preparingHandler writes the effects row of each transaction and checks
// that the batch carries, for each transaction, what its own Prepare made
// of that transaction.
type preparingHandler struct {
	tag string

	mu              sync.Mutex
	prepared        int // Prepare calls
	withPrepared    int // transactions handled with their prepared value
	withoutPrepared int
	wrong           []string
	effects         bool
}

func (h *preparingHandler) Prepare(t *ledger.Transaction) any {
	h.mu.Lock()
	h.prepared++
	h.mu.Unlock()
	return fmt.Sprintf("%s:%s@%d", h.tag, t.UpdateID, t.Offset)
}

func (h *preparingHandler) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range b.Transactions {
		switch p := b.Prepared(t); {
		case p == nil:
			h.withoutPrepared++
		case p == fmt.Sprintf("%s:%s@%d", h.tag, t.UpdateID, t.Offset):
			h.withPrepared++
		default:
			h.wrong = append(h.wrong, fmt.Sprintf("%s got %v", t.UpdateID, p))
		}
	}
	if h.effects {
		return effectsHandler.HandleBatch(ctx, tx, b)
	}
	return nil
}

// TestPreparerResultsReachTheirTransactions: the Ingester calls a
// Preparer's Prepare for each transaction and hands the result to
// HandleBatch with that transaction, also through Handlers, where each
// handler sees its own results and a plain handler in between changes
// nothing; transactions dedup drops are prepared but not handled.
func TestPreparerResultsReachTheirTransactions(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 300)
	a, c := &preparingHandler{tag: "a", effects: true}, &preparingHandler{tag: "c"}
	var plain int
	middle := ingest.HandlerFunc(func(_ context.Context, _ *sqlx.Tx, bt *ingest.Batch) error {
		plain += len(bt.Transactions)
		return nil
	})
	chain := ingest.Handlers(a, middle, c)
	_, ok := chain.(ingest.Preparer)
	require.True(t, ok, "a chain with a Preparer in it is a Preparer")
	_, ok = ingest.Handlers(middle, effectsHandler).(ingest.Preparer)
	require.False(t, ok, "a chain without one is not")

	runToEnd(t, b, ingest.Config{Handler: chain, MaxBatchSize: 16})
	n := len(treasuryTxs(b.p))
	requireAllOnce(t, b)
	for _, h := range []*preparingHandler{a, c} {
		require.Empty(t, h.wrong, h.tag)
		require.Equal(t, n, h.prepared, h.tag)
		require.Equal(t, n, h.withPrepared, h.tag)
		require.Zero(t, h.withoutPrepared, h.tag)
	}
	require.Equal(t, n, plain)

	// Replayed from the start: everything is prepared again, nothing handled.
	_, err := b.db.Exec(`DELETE FROM txhistory.checkpoint; DELETE FROM txhistory.synchronizer_time`)
	require.NoError(t, err)
	runToEnd(t, b, ingest.Config{Handler: chain, MaxBatchSize: 16})
	require.Equal(t, 2*n, a.prepared)
	require.Equal(t, n, a.withPrepared)
	requireAllOnce(t, b)

	// A batch the Ingester did not make has no prepared results.
	var bt ingest.Batch
	require.Nil(t, bt.Prepared(b.p.Transactions()[0]))
}

// panickyPreparer panics in Prepare for every third transaction.
type panickyPreparer struct{ preparingHandler }

func (h *panickyPreparer) Prepare(t *ledger.Transaction) any {
	if t.Offset%3 == 0 {
		panic("prepare fault at offset " + fmt.Sprint(t.Offset))
	}
	return h.preparingHandler.Prepare(t)
}

// TestPreparePanicIsNoResult: a panic in Prepare costs that transaction its
// prepared result, nothing else; every transaction is still handled once.
func TestPreparePanicIsNoResult(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 60)
	h := &panickyPreparer{preparingHandler{tag: "p", effects: true}}
	runToEnd(t, b, ingest.Config{Handler: h, MaxBatchSize: 8})
	requireAllOnce(t, b)
	n := len(treasuryTxs(b.p))
	require.Empty(t, h.wrong)
	require.Positive(t, h.withoutPrepared)
	require.Positive(t, h.withPrepared)
	require.Equal(t, n, h.withPrepared+h.withoutPrepared)
}

// In a chain, a handler that is not a Preparer sees Prepared nil, as the
// Batch doc says, not the chain's own results of the others.
func TestPreparedIsNilForAPlainMemberOfAChain(t *testing.T) {
	tx := &ledger.Transaction{UpdateID: "u1", Offset: 1}
	var seen []any
	plain := ingest.HandlerFunc(func(ctx context.Context, _ *sqlx.Tx, b *ingest.Batch) error {
		for _, t := range b.Transactions {
			seen = append(seen, b.Prepared(t))
		}
		return nil
	})
	prep := &preparingHandler{tag: "mine"}
	h := ingest.Handlers(prep, plain)
	p, ok := h.(ingest.Preparer)
	require.True(t, ok, "a chain with a Preparer is one")
	b := (&ingest.Batch{Transactions: []*ledger.Transaction{tx}}).WithPrepared(func(t *ledger.Transaction) any { return p.Prepare(t) })
	require.NoError(t, h.HandleBatch(context.Background(), nil, b))
	require.Equal(t, []any{nil}, seen)
	require.Equal(t, 1, prep.withPrepared, "the Preparer still gets its own")
}
