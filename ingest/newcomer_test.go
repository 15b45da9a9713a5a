package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// newcomerRig is the program an exchange engineer writes when she first
// embeds the library: the Ingester with the tokenstd History (crediting
// deposits through a notification table of her own), the withdrawal
// Reconciler, and a Handler of her own chained after them, over the fake
// participant and a throwaway PostgreSQL.
type newcomerRig struct {
	b       *testBundle
	history *tokenstd.History
	recon   *withdrawal.Reconciler
	world   *ledgertest.TokenWorld
}

func newNewcomerRig(t *testing.T) *newcomerRig {
	t.Helper()
	b := setup(t)
	_, err := b.db.Exec(`CREATE TABLE deposit_notification (update_id text NOT NULL, account text NOT NULL, amount numeric NOT NULL)`)
	require.NoError(t, err)
	history, err := tokenstd.NewHistory(tokenstd.Config{
		Treasury: treasury,
		Logger:   quietLog,
		Credit: tokenstd.CreditFunc(func(ctx context.Context, tx *sqlx.Tx, e *tokenstd.Entry) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO deposit_notification VALUES ($1, $2, $3)`, e.UpdateID, e.Account, e.Amount)
			return err
		}),
	})
	require.NoError(t, err)
	store, err := withdrawal.NewStore(b.db, withdrawal.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	recon, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history})
	require.NoError(t, err)
	return &newcomerRig{b: b, history: history, recon: recon, world: &ledgertest.TokenWorld{Sequence: true}}
}

// deposits appends n deposits from alice to the treasury, as the treasury's
// participant delivers them.
func (r *newcomerRig) deposits(t *testing.T, n int) {
	t.Helper()
	r.world.Mint("alice::1220a1", "1000")
	for i := 0; i < n; i++ {
		full := r.world.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: "1", Reason: fmt.Sprintf("acct-%d", i)})
		_, err := r.b.p.Append(ledgertest.TokenProjection(full, treasury))
		require.NoError(t, err)
	}
}

func (r *newcomerRig) ingester(t *testing.T, mine ingest.Handler, cfg ingest.Config) *ingest.Ingester {
	t.Helper()
	cfg.Parties = []string{treasury}
	cfg.Handler = ingest.Handlers(r.history, r.recon, mine)
	if cfg.Logger == nil {
		cfg.Logger = quietLog
	}
	ing, err := ingest.New(r.b.db, r.b.client, cfg)
	require.NoError(t, err)
	return ing
}

// callLog is her handler's view of the outside world: the update ids of
// the batches it was handed, in order, as an external service would see
// them.
type callLog struct {
	mu    sync.Mutex
	calls [][]string
}

func (c *callLog) record(b *ingest.Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, t := range b.Transactions {
		ids = append(ids, t.UpdateID)
	}
	c.calls = append(c.calls, ids)
}

// timesSeen is how many calls were handed updateID.
func (c *callLog) timesSeen(updateID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ids := range c.calls {
		for _, id := range ids {
			if id == updateID {
				n++
			}
		}
	}
	return n
}

// TestRejectedBatchHandedOverOnce: a batch her Handler rejects is handed
// over again one transaction at a time, to name the transaction (PoisonHalt)
// or set it aside (PoisonSetAside), as PoisonHalt's documentation says;
// not handed over whole a second time first. A Handler that calls an
// external service (a notification per deposit) made that call once more
// for every transaction of the batch.
func TestRejectedBatchHandedOverOnce(t *testing.T) {
	for name, policy := range map[string]ingest.PoisonPolicy{"halt": ingest.PoisonHalt, "setaside": ingest.PoisonSetAside} {
		t.Run(name, func(t *testing.T) {
			r := newNewcomerRig(t)
			r.deposits(t, 4)
			const bad = "upd-4"
			var log callLog
			mine := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
				log.record(b)
				for _, t := range b.Transactions {
					if t.UpdateID == bad {
						return fmt.Errorf("my service refuses %s", t.UpdateID)
					}
				}
				return nil
			})
			ing := r.ingester(t, mine, ingest.Config{EndOffset: r.b.p.LedgerEnd(), MaxBatchSize: 1, Poison: policy})
			err := ing.Run(context.Background())
			if policy == ingest.PoisonHalt {
				require.ErrorContains(t, err, "transaction upd-4 at offset 3")
			} else {
				require.NoError(t, err)
				aside, err := ing.SetAsideTransactions(context.Background())
				require.NoError(t, err)
				require.Len(t, aside, 1)
				require.Equal(t, bad, aside[0].UpdateID)
			}
			require.Equal(t, 2, log.timesSeen(bad), "her Handler was handed %s in the batch that failed, then again alone; calls: %v", bad, log.calls)
			require.Equal(t, 1, log.timesSeen("upd-2"), "calls: %v", log.calls)
		})
	}
}

// TestHandlerLedgerFaultCountedOnce: her Handler calls a participant of its
// own and meets it unavailable once. The Handler documentation promises
// that fault is retried as the Ingester's own are, with backoff and counted
// by MaxAttempts; it is a stream fault in Stats.Errors. In a batch finished
// in the background (the pipeline, with the default pool) the first such
// fault was retried at once, uncounted: MaxAttempts 1 did not stop Run, and
// Stats.Errors showed nothing.
func TestHandlerLedgerFaultCountedOnce(t *testing.T) {
	r := newNewcomerRig(t)
	r.deposits(t, 4)
	var failed atomic.Bool
	mine := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		for _, t := range b.Transactions {
			if t.UpdateID == "upd-4" && failed.CompareAndSwap(false, true) {
				return fmt.Errorf("my participant, for %s: %w", t.UpdateID, &ledger.APIError{Code: codes.Unavailable, Message: "down"})
			}
		}
		return effectsHandler(ctx, tx, b)
	})
	ing := r.ingester(t, mine, ingest.Config{EndOffset: r.b.p.LedgerEnd(), MaxBatchSize: 1, MaxAttempts: 1})
	err := ing.Run(context.Background())
	require.ErrorContains(t, err, "giving up after 1 attempts", "MaxAttempts 1: one fault ends Run")
	require.EqualValues(t, 1, ing.Stats().Errors["stream"], "the fault is counted: %v", ing.Stats().Errors)

	// Without MaxAttempts, it is retried and everything is applied once.
	ing = r.ingester(t, mine, ingest.Config{EndOffset: r.b.p.LedgerEnd(), MaxBatchSize: 1})
	require.NoError(t, ing.Run(context.Background()))
	var n int
	require.NoError(t, r.b.db.Get(&n, `SELECT count(*) FROM effects`))
	require.Equal(t, 4, n)
}
