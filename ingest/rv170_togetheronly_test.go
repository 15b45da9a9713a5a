package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
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
	var effects int
	require.NoError(t, b.db.Get(&effects, `SELECT count(*) FROM effects`))
	require.Zero(t, effects, "nothing of the batch committed")
}
