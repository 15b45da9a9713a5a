package tokenstd_test

// Bad-input harness: the real path, fake participant -> ingest.Ingester with
// the handlers of examples/ingestd (History + withdrawal.Reconciler) ->
// PostgreSQL.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

type rig struct {
	t       *testing.T
	b       *historyBundle
	p       *ledgertest.Participant
	client  *ledger.Client
	handler ingest.Handler
	store   *withdrawal.Store
	batches []int // transactions per HandleBatch call
}

func newRig(t *testing.T) *rig {
	t.Helper()
	b := setupHistory(t)
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	r := &rig{t: t, b: b, p: p, client: client}
	r.configure(nil)
	return r
}

// configure makes r's handlers anew, History counting only instruments
// (every instrument if empty).
func (r *rig) configure(instruments []tokenstd.Instrument) {
	t := r.t
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// As examples/ingestd newHandler.
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Schema: testSchema, Logger: log, Instruments: instruments})
	require.NoError(t, err)
	store, err := withdrawal.NewStore(r.b.db, withdrawal.Config{Schema: testSchema, Treasury: treasury, Logger: log, Instruments: instruments})
	require.NoError(t, err)
	rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{Logger: log, History: history})
	require.NoError(t, err)
	count := ingest.HandlerFunc(func(_ context.Context, _ *sqlx.Tx, bt *ingest.Batch) error {
		if len(bt.Transactions) > 0 {
			r.batches = append(r.batches, len(bt.Transactions))
		}
		return nil
	})
	r.store = store
	r.handler = ingest.Handlers(history, rec, count)
}

func (r *rig) append(txs ...*ledger.Transaction) []*ledger.Transaction {
	r.t.Helper()
	out, err := r.p.Append(txs...)
	require.NoError(r.t, err)
	return out
}

// run ingests up to the ledger end under the policy; it fails the test on
// a hang.
func (r *rig) run(policy ingest.PoisonPolicy) error {
	r.t.Helper()
	return r.runAttempts(policy, 2)
}

// runAttempts is run giving up after attempts tries of a batch.
func (r *rig) runAttempts(policy ingest.PoisonPolicy, attempts int) error {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.b.ctx, 20*time.Second)
	defer cancel()
	ing, err := ingest.New(r.b.db, r.client, ingest.Config{
		Parties: []string{treasury}, Schema: testSchema, Handler: r.handler, EndOffset: r.p.LedgerEnd(),
		Poison: policy, MaxAttempts: attempts, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(r.t, err)
	err = ing.Run(ctx)
	require.NoError(r.t, ctx.Err(), "Run hung (returned %v)", err)
	return err
}

func (r *rig) checkpoint() int64 {
	r.t.Helper()
	var off int64
	require.NoError(r.t, r.b.db.GetContext(r.b.ctx, &off, `SELECT ledger_offset FROM tokens.checkpoint`))
	return off
}

func (r *rig) count(q string) int {
	r.t.Helper()
	var n int
	require.NoError(r.t, r.b.db.GetContext(r.b.ctx, &n, q))
	return n
}

func randomText(n int) string {
	buf := make([]byte, (n+1)/2)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)[:n]
}

// treasuryHolding returns the created event of the treasury's holding in tx.
func treasuryHolding(t *testing.T, tx *ledger.Transaction) *ledger.CreatedEvent {
	t.Helper()
	entries, err := tokenstd.Classify(ledgertest.TokenProjection(tx, treasury), treasury, nil)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	require.NotEmpty(t, entries[0].Created)
	cid := entries[0].Created[0].ContractID
	for _, ev := range tx.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == cid {
			return c
		}
	}
	t.Fatal("no treasury holding")
	return nil
}
