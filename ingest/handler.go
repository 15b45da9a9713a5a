package ingest

import (
	"context"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
)

// Batch is what a Handler sees: the new transactions of one SQL transaction,
// and where ingestion stands once it commits.
type Batch struct {
	// Transactions not ingested before (update-id dedup has already removed
	// replays), in offset order.
	Transactions []*ledger.Transaction
	// Checkpoints are the OffsetCheckpoints received in this batch, in order.
	Checkpoints []*ledger.OffsetCheckpoint
	// FromOffset is the checkpoint offset before the batch (exclusive);
	// ToOffset the one it commits.
	FromOffset, ToOffset int64
	// RecordTimes holds, per synchronizer, the record time ingestion will have
	// reached once the batch commits (from its transactions and checkpoints,
	// never going backwards).
	RecordTimes map[string]time.Time
	// Skipped counts the transactions of the range that dedup dropped.
	Skipped int

	prepared map[*ledger.Transaction]any // what the Handler's Prepare returned, by transaction
}

// Prepared returns what the Handler's Prepare returned for t, which must be
// one of b.Transactions, or nil: when the Handler is not a Preparer, when
// Prepare returned nil, or when the Ingester did not call it (a batch a test
// or another component made).
func (b *Batch) Prepared(t *ledger.Transaction) any {
	if b == nil || b.prepared == nil {
		return nil
	}
	return b.prepared[t]
}

// WithPrepared returns a copy of b whose Prepared returns prepared(t) for
// each of its transactions: for tests of a Preparer, and for handlers that
// run others.
func (b *Batch) WithPrepared(prepared func(t *ledger.Transaction) any) *Batch {
	c := *b
	c.prepared = make(map[*ledger.Transaction]any, len(b.Transactions))
	for _, t := range b.Transactions {
		if v := prepared(t); v != nil {
			c.prepared[t] = v
		}
	}
	return &c
}

// Handler writes a batch's effects. It runs inside the SQL transaction that
// also stores the dedup rows and the checkpoint: its writes commit with them
// or not at all.
//
// HandleBatch is called from one goroutine at a time. It must use tx for all
// its database work and must not commit or roll it back. An error aborts the
// whole batch (nothing of it is committed) and stops the Ingester with that
// error; it should name the transaction's offset and update id.
type Handler interface {
	HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error
}

// Preparer is implemented by a Handler that can do part of its work on each
// transaction ahead of its batch: work that reads nothing but the
// transaction, such as decoding payloads or a speculative classification.
// The Ingester calls Prepare from the goroutine that reads the stream, as
// each transaction arrives, so that it runs while earlier batches are being
// written; HandleBatch finds the result through Batch.Prepared.
//
// Prepare runs concurrently with HandleBatch (of earlier batches) and must
// not touch the database or anything HandleBatch changes. It may be called
// for transactions that never reach HandleBatch (dedup drops replays) and
// again for the same transaction after a reconnect, and a batch may be
// handled twice with the same results (after a transient database fault).
// A result is a hint, not a commitment: HandleBatch must write the same
// effects with it, without it (Prepared returns nil) and after a failed
// attempt, and must not modify it. A Prepare that panics is logged and
// taken as having returned nil.
type Preparer interface {
	Prepare(t *ledger.Transaction) any
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, tx *sqlx.Tx, b *Batch) error

// HandleBatch calls f.
func (f HandlerFunc) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	return f(ctx, tx, b)
}

// Handlers runs several handlers in order in the same SQL transaction. The
// result is a Preparer that prepares for each of hs that is one.
func Handlers(hs ...Handler) Handler {
	c := chain{hs: hs}
	for _, h := range hs {
		if _, ok := h.(Preparer); ok {
			return c
		}
	}
	return chainNoPrepare{c}
}

type chain struct{ hs []Handler }

// chainNoPrepare is a chain with no Preparer in it: it is not a Preparer
// itself, so that the Ingester does not call Prepare for nothing.
type chainNoPrepare struct{ c chain }

func (c chainNoPrepare) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	return c.c.HandleBatch(ctx, tx, b)
}

// chainPrepared holds what each handler of a chain prepared, by position.
type chainPrepared []any

// Prepare implements Preparer.
func (c chain) Prepare(t *ledger.Transaction) any {
	out := make(chainPrepared, len(c.hs))
	for i, h := range c.hs {
		if p, ok := h.(Preparer); ok {
			out[i] = p.Prepare(t)
		}
	}
	return out
}

// HandleBatch implements Handler: each handler sees the batch with what it
// prepared itself.
func (c chain) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	for i, h := range c.hs {
		hb := b
		if _, ok := h.(Preparer); ok && b.prepared != nil {
			hb = b.WithPrepared(func(t *ledger.Transaction) any {
				if cp, ok := b.prepared[t].(chainPrepared); ok && len(cp) == len(c.hs) {
					return cp[i]
				}
				return nil
			})
		}
		if err := h.HandleBatch(ctx, tx, hb); err != nil {
			return err
		}
	}
	return nil
}
