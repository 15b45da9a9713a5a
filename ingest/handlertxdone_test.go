package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Handler must not commit or roll back the batch's SQL transaction. One
// that does (a newcomer's own tx.Commit(), or a helper that ends what it
// is given) is told so: Run stops with an error saying what the Handler
// did, naming the batch. It committed the effects without the checkpoint
// and Run carried on (the next attempt's dedup skipped what was applied),
// or it stopped with database/sql's "transaction has already been
// committed or rolled back", which names neither the Handler nor the batch.
// The same when the Handler is chained before another (ingest.Handlers),
// whose first statement is the one to find tx ended.
func TestHandlerThatEndsItsTransactionIsTold(t *testing.T) {
	for name, end := range map[string]func(*sqlx.Tx) error{
		"commit":   (*sqlx.Tx).Commit,
		"rollback": (*sqlx.Tx).Rollback,
	} {
		for pname, poison := range map[string]ingest.PoisonPolicy{"halt": ingest.PoisonHalt, "set-aside": ingest.PoisonSetAside} {
			for _, chained := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/chained=%t", name, pname, chained), func(t *testing.T) {
					b := setup(t)
					appendN(t, b.p, 0, 5)
					ender := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
						if err := effectsHandler(ctx, tx, bt); err != nil {
							return err
						}
						return end(tx)
					})
					// Chained before another handler, whose statement finds tx
					// ended, as alone.
					h := ingest.Handler(ender)
					if chained {
						h = ingest.Handlers(ender, effectsHandler)
					}
					ing := newIngester(t, b, ingest.Config{Handler: h, Poison: poison, EndOffset: b.p.LedgerEnd()})
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					err := ing.Run(ctx)
					require.Error(t, err)
					require.ErrorContains(t, err, "committed or rolled back its SQL transaction")
					require.ErrorContains(t, err, "offsets 0..")
					require.Empty(t, mustSetAside(t, ing), "nothing set aside for the Handler's mistake")
				})
			}
		}
	}
}

func mustSetAside(t *testing.T, ing *ingest.Ingester) []ingest.SetAsideRecord {
	t.Helper()
	aside, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	return aside
}
