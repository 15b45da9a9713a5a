package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Handler that panics while it reads rows (a loop over tx.QueryContext
// without a deferred rows.Close: the panic leaves the rows open) is a
// poison transaction like any other panicking one: under PoisonSetAside it
// is set aside and ingestion goes on. The Ingester recovered the panic and
// sent ROLLBACK TO SAVEPOINT on the connection whose rows were still
// unread: lib/pq read their DataRows as the reply ("pq: unexpected message
// 'D'"), and Run stopped with that protocol error, nothing set aside.
func TestHandlerPanicWithOpenRowsIsSetAside(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 40)
	bad := treasuryTxs(b.p)[25]
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
		if err := effectsHandler(ctx, tx, batch); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT n FROM generate_series(1, 2000) AS n`)
		if err != nil {
			return err
		}
		for rows.Next() {
			for _, t := range batch.Transactions {
				if t.UpdateID == bad.UpdateID {
					panic("handler bug on " + t.UpdateID)
				}
			}
		}
		return rows.Close()
	})
	ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, EndOffset: b.p.LedgerEnd(), Poison: ingest.PoisonSetAside})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	aside, err := ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, bad.UpdateID, aside[0].UpdateID)
	st := readState(t, b.db)
	require.Equal(t, b.p.LedgerEnd(), st.Checkpoint.Offset)
	require.Len(t, st.Effects, len(treasuryTxs(b.p))-1)
}
