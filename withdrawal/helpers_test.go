package withdrawal_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	treasury = "treasury::1220wd"
	external = "exchange-b::1220wd"
	ttl      = 10 * time.Minute
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// skipUnlessCI skips the test for what the environment lacks, or fails it
// when $CI is true ("true", "1"), as pgtest does for a missing server: a CI
// job must not pass by testing nothing.
func skipUnlessCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv(pgtest.EnvCI)); ci {
		t.Fatalf("%s (%s is set, so this fails instead of skipping)", fmt.Sprintf(format, args...), pgtest.EnvCI)
	}
	t.Skipf(format, args...)
}

// createExchangeTables creates the exchange's own table of the test: the
// refunds its Refunder wrote, one row per withdrawal at most (a refund
// paid twice fails the batch).
func createExchangeTables(ctx context.Context, db *sqlx.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE public.refund (
		withdrawal_id text PRIMARY KEY, account text NOT NULL, amount numeric NOT NULL, status text NOT NULL)`)
	return err
}

// refunder credits user funds back into public.refund.
var refunder = withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO public.refund VALUES ($1, $2, $3, $4)`, w.ID, w.UserAccount, w.ReservedFunds.String(), string(w.Status))
	return err
})

// env drives the History handler and the Reconciler with batches built by
// hand, as the Ingester would, from a TokenWorld that numbers its own
// transactions: deterministic and fast, for the life cycle tests.
type env struct {
	t       *testing.T
	ctx     context.Context
	db      *sqlx.DB
	store   *withdrawal.Store
	rec     *withdrawal.Reconciler
	handler ingest.Handler
	world   *ledgertest.TokenWorld
	cps     *checkpoint.Store
	offset  int64
	times   map[string]time.Time
	batches []*ingest.Batch
}

func newEnv(t *testing.T, cfg withdrawal.Config, rcfg withdrawal.ReconcilerConfig) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db))
	require.NoError(t, createExchangeTables(ctx, db))
	if cfg.Treasury == "" {
		cfg.Treasury = treasury
	}
	if cfg.Refunder == nil {
		cfg.Refunder = refunder
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLog
	}
	store, err := withdrawal.NewStore(db, cfg)
	require.NoError(t, err)
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog, Instruments: cfg.Instruments})
	require.NoError(t, err)
	switch rcfg.History.(type) {
	case nil:
		rcfg.History = history
	case fromTable:
		rcfg.History = nil
	}
	rec, err := withdrawal.NewReconciler(store, rcfg)
	require.NoError(t, err)
	cps, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	_, err = cps.Init(ctx, db, 0)
	require.NoError(t, err)
	return &env{t: t, ctx: ctx, db: db, store: store, rec: rec, handler: ingest.Handlers(history, rec), cps: cps,
		world: &ledgertest.TokenWorld{Sequence: true}, times: map[string]time.Time{}}
}

// serializableDefault makes SERIALIZABLE the default isolation of e's
// database for every session opened from now on, and closes the idle ones.
func (e *env) serializableDefault() {
	e.t.Helper()
	_, err := e.db.ExecContext(e.ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = %L', current_database(), 'serializable'); END $$`)
	require.NoError(e.t, err)
	e.db.SetMaxIdleConns(0) // closes the idle connections
	e.db.SetMaxIdleConns(2)
	var level string
	require.NoError(e.t, e.db.GetContext(e.ctx, &level, `SHOW transaction_isolation`))
	require.Equal(e.t, "serializable", level)
}

// fromTable, as the ReconcilerConfig.History given to newEnv, makes the
// Reconciler read the entries back from token_history; by default newEnv
// hands it the History handler.
type fromTable struct{}

func (fromTable) Written(*ingest.Batch) ([]*tokenstd.Entry, bool) { return nil, false }

// batch builds the next batch of the given transactions (and, if tick is
// set, an offset checkpoint moving the record time to it).
func (e *env) batch(tick time.Time, txs ...*ledger.Transaction) *ingest.Batch {
	b := &ingest.Batch{Transactions: txs, FromOffset: e.offset}
	for _, tx := range txs {
		e.offset = max(e.offset+1, tx.Offset)
		if tx.RecordTime.After(e.times[tx.SynchronizerID]) {
			e.times[tx.SynchronizerID] = tx.RecordTime
		}
	}
	if !tick.IsZero() {
		e.offset++
		cp := &ledger.OffsetCheckpoint{Offset: e.offset,
			SynchronizerTimes: []ledger.SynchronizerTime{{SynchronizerID: ledgertest.DefaultSynchronizer, RecordTime: tick}}}
		b.Checkpoints = append(b.Checkpoints, cp)
		if tick.After(e.times[ledgertest.DefaultSynchronizer]) {
			e.times[ledgertest.DefaultSynchronizer] = tick
		}
	}
	b.ToOffset = e.offset
	b.RecordTimes = maps.Clone(e.times)
	e.batches = append(e.batches, b)
	return b
}

// run hands a batch to the handlers and advances the checkpoint, in a
// transaction of its own, committed if the handlers succeed.
func (e *env) run(b *ingest.Batch) error {
	e.t.Helper()
	return e.handle(b, true)
}

// replay hands an earlier batch to the handlers again, leaving the
// checkpoint alone.
func (e *env) replay(b *ingest.Batch) error {
	e.t.Helper()
	return e.handle(b, false)
}

func (e *env) handle(b *ingest.Batch, advance bool) error {
	e.t.Helper()
	tx, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(e.t, err)
	if err := e.handler.HandleBatch(e.ctx, tx, b); err != nil {
		require.NoError(e.t, tx.Rollback())
		return err
	}
	if advance {
		require.NoError(e.t, e.cps.AdvanceTx(e.ctx, tx, b.FromOffset, checkpoint.Checkpoint{Offset: b.ToOffset, RecordTimes: b.RecordTimes}))
	}
	require.NoError(e.t, tx.Commit())
	return nil
}

// apply runs the transactions as one batch, which must succeed.
func (e *env) apply(txs ...*ledger.Transaction) {
	e.t.Helper()
	require.NoError(e.t, e.run(e.batch(time.Time{}, txs...)))
}

// tick moves the ingested record time to t with an offset checkpoint.
func (e *env) tick(t time.Time) {
	e.t.Helper()
	require.NoError(e.t, e.run(e.batch(t)))
}

// mint gives the treasury holdings of the given amounts (ingested) and
// returns their contract ids.
func (e *env) mint(amounts ...string) []string {
	e.t.Helper()
	var cids []string
	var txs []*ledger.Transaction
	for _, a := range amounts {
		op := e.world.MintOp(treasury, a)
		txs = append(txs, e.world.Tx(op))
		cids = append(cids, op.Created[0].ContractID)
	}
	e.apply(txs...)
	return cids
}

// request is a withdrawal of amount to external reserving the holdings,
// with trecTgt = world clock + ttl.
func (e *env) request(id, amount string, holdings ...string) withdrawal.Request {
	return withdrawal.Request{
		ID: id, UserAccount: "user-" + id, Amount: dec(amount), Instrument: instrument(e.world.Instrument()), Receiver: external,
		ReservedHoldings: holdings, ReservedFunds: dec(amount).Add(dec("1")), TrecTgt: e.world.Now().Add(ttl),
	}
}

// create creates the request, which must succeed.
func (e *env) create(r withdrawal.Request) *withdrawal.Withdrawal {
	e.t.Helper()
	w, err := e.store.Create(e.ctx, r)
	require.NoError(e.t, err)
	return w
}

// transfer is the 1-step transfer executing a withdrawal, with a fee.
func (e *env) transfer(w *withdrawal.Withdrawal, fee string) *ledger.Transaction {
	return e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
		InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: fee})
}

// offer is the multi-step transfer of a withdrawal; it returns the
// transaction and the instruction's contract id.
func (e *env) offer(w *withdrawal.Withdrawal, fee string) (*ledger.Transaction, string) {
	return e.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
		InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: fee})
}

func (e *env) get(id string) *withdrawal.Withdrawal {
	e.t.Helper()
	w, err := e.store.Get(e.ctx, id)
	require.NoError(e.t, err)
	return w
}

func (e *env) reservations() map[string]string {
	e.t.Helper()
	r, err := e.store.Reservations(e.ctx)
	require.NoError(e.t, err)
	return r
}

// refunds returns the refunds paid: withdrawal id → amount.
func refunds(t *testing.T, db *sqlx.DB) map[string]string {
	t.Helper()
	var rows []struct {
		ID     string `db:"withdrawal_id"`
		Amount string `db:"amount"`
	}
	require.NoError(t, db.Select(&rows, `SELECT withdrawal_id, amount::text AS amount FROM public.refund`))
	out := map[string]string{}
	for _, r := range rows {
		out[r.ID] = r.Amount
	}
	return out
}

// snapshot renders everything the package and the exchange's refunds hold,
// for comparisons before and after a replay.
func snapshot(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var parts []string
	for _, q := range []string{
		`SELECT row_to_json(w)::text FROM txhistory.withdrawal w ORDER BY id`,
		`SELECT contract_id || ' ' || withdrawal_id FROM txhistory.withdrawal_reservation ORDER BY 1`,
		`SELECT row_to_json(r)::text FROM public.refund r ORDER BY withdrawal_id`,
		`SELECT row_to_json(g)::text FROM txhistory.withdrawal_gate g`,
		`SELECT count(*)::text FROM txhistory.withdrawal_gate_log`,
	} {
		var rows []string
		require.NoError(t, db.Select(&rows, q))
		parts = append(parts, strings.Join(rows, "\n"))
	}
	return strings.Join(parts, "\n--\n")
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func instrument(i ledgertest.TokenInstrument) tokenstd.Instrument {
	return tokenstd.Instrument{Admin: i.Admin, ID: i.ID}
}

func requireDec(t *testing.T, want string, got decimal.Decimal, msgAndArgs ...any) {
	t.Helper()
	require.True(t, dec(want).Equal(got), "want %s, got %s %s", want, got, fmt.Sprint(msgAndArgs...))
}
