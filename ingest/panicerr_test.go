package ingest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// A Handler written with sqlx's Must helpers (tx.MustExecContext panics
// with the database's error) meets a statement timeout: the handler's
// table is locked for a while by another session. The panic carries a
// transient database fault (57014), to be retried like the same error
// returned. The recovered panic became ErrHandlerPanicked with the fault
// formatted away (%v): the batch was taken as rejected by the Handler,
// and under PoisonSetAside every transaction handled alone while the lock
// lasted was set aside (its effects never applied); under PoisonHalt Run
// stopped blaming the first one.
func TestHandlerPanicWithADatabaseFaultIsRetried(t *testing.T) {
	forEachPoisonPolicy(t, func(t *testing.T, policy ingest.PoisonPolicy) {
		b := setup(t)
		appendN(t, b.p, 0, 50)
		runToEnd(t, b, ingest.Config{})
		tb := *withDatabaseStatementTimeout(t, b, 300*time.Millisecond)

		holdEffectsLocked(t, b.db, 1500*time.Millisecond)

		var timedOut atomic.Int64 // panics with the statement timeout's error
		h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
			defer func() {
				if r := recover(); r != nil {
					if pe, ok := r.(*pq.Error); ok && pe.Code == "57014" {
						timedOut.Add(1)
					}
					panic(r) // for the Ingester to recover
				}
			}()
			for _, t := range batch.Transactions {
				tx.MustExecContext(ctx, `INSERT INTO effects VALUES ($1, $2, $3, $4)`, t.UpdateID, t.Offset, len(t.Events), t.RecordTime)
			}
			return nil
		})
		appendN(t, b.p, 50, 30)
		ing := newIngester(t, &tb, ingest.Config{Handler: h, Poison: policy, EndOffset: b.p.LedgerEnd()})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		require.NoError(t, ing.Run(ctx))
		require.Positive(t, timedOut.Load(), "the handler never panicked with a statement timeout: nothing was tested")
		aside, err := ing.SetAsideTransactions(ctx)
		require.NoError(t, err)
		for _, a := range aside {
			t.Errorf("%s set aside for a statement timeout: %s", a.UpdateID, a.Error)
		}
		requireAllOnce(t, b)
	})
}
