package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// anonReadRejecter is a Reader whose ReadBatch fails, with an error that
// names no transaction (as a database's refusal does), for any batch holding
// one given transaction.
type anonReadRejecter struct{ bad string }

func (h anonReadRejecter) ReadBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) (any, error) {
	for _, t := range b.Transactions {
		if t.UpdateID == h.bad {
			return nil, errors.New("pq: value out of range for type numeric")
		}
	}
	return nil, nil
}

func (h anonReadRejecter) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	return effectsHandler(ctx, tx, b)
}

// Under PoisonHalt, Run stops with an error naming the offset and update id
// of the transaction that cannot be ingested; when the Handler's error does
// not name it, the Ingester locates it (PoisonHalt's documentation). A
// rejection by ReadBatch ("an error fails the batch as HandleBatch's
// would") is not located: the error names only the batch's offsets.
func TestReadBatchRejectionNamesTheTransaction(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	bad := treasuryTxs(b.p)[7]
	ing := newIngester(t, b, ingest.Config{Handler: anonReadRejecter{bad: bad.UpdateID}, MaxBatchSize: 1000, EndOffset: b.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := ing.Run(ctx)
	requireNamesTransaction(t, err, bad.UpdateID, bad.Offset)
	require.ErrorContains(t, err, "value out of range", "the ReadBatch error is kept")
}
