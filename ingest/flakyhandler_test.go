package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Handler that rejects a batch once and then takes every transaction of
// it, alone and whole (a flaky call it should have reported as retryable,
// or a read it made early), does not stop Run under PoisonHalt: no
// transaction is to blame, so the batch is handed over whole once more
// before Run gives up on it. Handed over one at a time straight away, each
// passed, and Run stopped with the batch's error naming no transaction;
// and without the pipeline (a pool of two connections) it always did.
func TestBatchRejectedOnceButNoTransactionAloneIsHandedOverAgain(t *testing.T) {
	for name, pool := range map[string]int{"pipeline": 0, "one batch at a time": 2} {
		t.Run(name, func(t *testing.T) {
			b := setup(t)
			if pool > 0 {
				b.db.SetMaxOpenConns(pool)
			}
			appendN(t, b.p, 0, 30)
			var failed atomic.Bool
			h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
				if len(bt.Transactions) > 1 && failed.CompareAndSwap(false, true) {
					return errors.New("the notification service hiccuped")
				}
				return effectsHandler(ctx, tx, bt)
			})
			ing := newIngester(t, b, ingest.Config{Handler: h, EndOffset: b.p.LedgerEnd(), MaxBatchSize: 10})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.NoError(t, ing.Run(ctx))
			require.True(t, failed.Load(), "the Handler rejected a batch once")
			var effects, distinct int
			require.NoError(t, b.db.Get(&effects, `SELECT count(*) FROM effects`))
			require.NoError(t, b.db.Get(&distinct, `SELECT count(DISTINCT update_id) FROM effects`))
			want := len(treasuryTxs(b.p))
			require.Equal(t, want, distinct, fmt.Sprintf("every transaction applied (of %d)", want))
			require.Equal(t, want, effects, "each once")
		})
	}
}
