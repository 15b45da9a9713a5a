package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Handler that rejects a batch whole, every time, but takes each of its
// transactions alone (a unique key two transactions of the batch both
// write, a limit on the batch's total) stops Run under PoisonHalt with the
// batch's error, which cannot name a transaction. The error says so: each
// transaction was taken alone, so the operator does not look for a poison
// transaction that is not there, and knows that a smaller MaxBatchSize, or
// a Handler fixed to take them together, gets past it.
func TestBatchRejectedOnlyWholeSaysEachTransactionWasTakenAlone(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 6)
	rejected := errors.New("the batch's total is over the limit")
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
		if len(bt.Transactions) > 1 {
			return rejected
		}
		return effectsHandler(ctx, tx, bt)
	})
	ing := newIngester(t, b, ingest.Config{Handler: h, EndOffset: b.p.LedgerEnd(), MaxBatchDelay: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := ing.Run(ctx)
	require.ErrorIs(t, err, rejected)
	require.Contains(t, err.Error(), "took each of its transactions alone", fmt.Sprintf("the error says no transaction alone is rejected: %v", err))
	// A batch may have committed before the rejected one: a stream's first
	// transaction can reach the Ingester alone (under load, in about a
	// third of the runs), and the Handler takes a batch of one. Nothing of the
	// rejected batch committed: the effects are exactly the transactions up
	// to the checkpoint, which stops short of the last.
	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	cp, _, err := store.Get(ctx, b.db)
	require.NoError(t, err)
	committed := []string{}
	for _, tx := range treasuryTxs(b.p) {
		if tx.Offset <= cp.Offset {
			committed = append(committed, fmt.Sprintf("%s@%d", tx.UpdateID, tx.Offset))
		}
	}
	require.Less(t, len(committed), len(treasuryTxs(b.p)), "the rejected batch moved the checkpoint to %d", cp.Offset)
	effects := []string{}
	require.NoError(t, b.db.Select(&effects, `SELECT update_id || '@' || ledger_offset FROM effects ORDER BY ledger_offset, update_id`))
	require.Equal(t, committed, effects, "nothing of the rejected batch committed")
}
