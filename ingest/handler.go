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

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, tx *sqlx.Tx, b *Batch) error

// HandleBatch calls f.
func (f HandlerFunc) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	return f(ctx, tx, b)
}

// Handlers runs several handlers in order in the same SQL transaction.
func Handlers(hs ...Handler) Handler {
	return HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
		for _, h := range hs {
			if err := h.HandleBatch(ctx, tx, b); err != nil {
				return err
			}
		}
		return nil
	})
}
