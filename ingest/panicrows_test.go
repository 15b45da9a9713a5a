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
// without a deferred rows.Close: the panic leaves the rows open) leaves its
// SQL transaction unusable: under PoisonSetAside the Ingester cannot roll
// back to the savepoint to set the transaction aside (lib/pq: "there is
// already a query being processed on this connection", or the unread
// DataRows taken for the reply). Run stops with an error naming the
// transaction and saying why, and nothing of the batch is committed.
// (It stopped with lib/pq's message alone, naming nothing.)
func TestHandlerPanicWithOpenRowsStopsNamingTheTransaction(t *testing.T) {
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
	err := ing.Run(ctx)
	require.Error(t, err)
	require.ErrorContains(t, err, bad.UpdateID)
	require.ErrorContains(t, err, "rows open")
	aside, lerr := ing.SetAsideTransactions(context.Background())
	require.NoError(t, lerr)
	require.Empty(t, aside)
	st := readState(t, b.db)
	require.Less(t, st.Checkpoint.Offset, bad.Offset, "the batch of the transaction was not committed")
	committed := 0
	for _, tx := range treasuryTxs(b.p) {
		if tx.Offset <= st.Checkpoint.Offset {
			committed++
		}
	}
	require.Len(t, st.Effects, committed, "the effects of what the checkpoint covers, each once")
}
