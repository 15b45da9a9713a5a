package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Handler that writes to a table its database lacks (a schema set in
// ingest.Config but not in the handler's own, a migration not run, a
// grant missing) fails on every transaction alike: that is the
// deployment's mistake, not a transaction that cannot be ingested. Under
// PoisonSetAside each was set aside and Run went on to the end with nil,
// the books empty and a review queue of every transaction; it stops now,
// naming the first transaction and the database's refusal, with nothing
// set aside and the checkpoint where it was.
func TestSetAsideStopsOnAHandlersConfigurationFault(t *testing.T) {
	for name, stmt := range map[string]string{
		"undefined table":  `INSERT INTO notifications (update_id) VALUES ($1)`,
		"undefined schema": `INSERT INTO exch.notifications (update_id) VALUES ($1)`,
	} {
		t.Run(name, func(t *testing.T) {
			b := setup(t)
			appendN(t, b.p, 0, 20)
			first := treasuryTxs(b.p)[0]
			h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
				for _, t := range bt.Transactions {
					if _, err := tx.ExecContext(ctx, stmt, t.UpdateID); err != nil {
						return err
					}
				}
				return effectsHandler(ctx, tx, bt)
			})
			ing := newIngester(t, b, ingest.Config{Handler: h, Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd(), MaxAttempts: 1})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := ing.Run(ctx)
			require.Error(t, err, "every transaction set aside for the handler's missing table")
			require.ErrorContains(t, err, first.UpdateID)
			require.ErrorContains(t, err, "notifications")
			aside, lerr := ing.SetAsideTransactions(context.Background())
			require.NoError(t, lerr)
			require.Empty(t, aside, "nothing set aside for a fault of the deployment")
			require.Zero(t, ing.Stats().SetAside)
			cs, serr := checkpoint.NewStore("txhistory")
			require.NoError(t, serr)
			cp, _, gerr := cs.Get(context.Background(), b.db)
			require.NoError(t, gerr)
			require.Zero(t, cp.Offset, "the checkpoint did not move past transactions never applied")
		})
	}
}
