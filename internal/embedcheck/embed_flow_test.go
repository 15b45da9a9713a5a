package embedcheck

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
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
)

const (
	treasury = "treasury::1220aa"
	external = "bob::1220bb"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type exch struct {
	t      *testing.T
	ctx    context.Context
	db     *sqlx.DB
	p      *ledgertest.Participant
	client *ledger.Client
	world  *ledgertest.TokenWorld
	store  *withdrawal.Store
	cancel context.CancelFunc
	done   chan error
	ing    *ingest.Ingester
}

func newExch(t *testing.T) *exch {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	db := pgtest.NewDB(t)
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return &exch{t: t, ctx: ctx, db: db, p: p, client: client, world: &ledgertest.TokenWorld{}, store: store}
}

func (e *exch) start() {
	e.t.Helper()
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
	if err != nil {
		e.t.Fatal(err)
	}
	rec, err := withdrawal.NewReconciler(e.store, withdrawal.ReconcilerConfig{History: history})
	if err != nil {
		e.t.Fatal(err)
	}
	ing, err := ingest.New(e.db, e.client, ingest.Config{
		Parties: []string{treasury}, Handler: ingest.Handlers(history, rec), Logger: quiet,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	e.ing, e.cancel, e.done = ing, cancel, make(chan error, 1)
	go func() { e.done <- ing.Run(ctx) }()
}

func (e *exch) stop() error {
	e.ing.Stop()
	err := <-e.done
	e.cancel()
	return err
}

func (e *exch) caughtUp() {
	e.t.Helper()
	end := e.p.LedgerEnd()
	cps, _ := checkpoint.NewStore(schema.DefaultName)
	deadline := time.Now().Add(30 * time.Second)
	for {
		cp, _, err := cps.Get(e.ctx, e.db)
		if err != nil {
			e.t.Fatal(err)
		}
		if cp.Offset >= end {
			return
		}
		select {
		case err := <-e.done:
			e.t.Fatalf("ingester stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("not caught up: %d < %d", cp.Offset, end)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func inst(i ledgertest.TokenInstrument) tokenstd.Instrument {
	return tokenstd.Instrument{Admin: i.Admin, ID: i.ID}
}

func TestEmbedFlow(t *testing.T) {
	e := newExch(t)
	base := runtime.NumGoroutine()
	e.start()
	op := e.world.MintOp(treasury, "100")
	if _, err := e.p.Append(e.world.Tx(op)); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	cid := op.Created[0].ContractID
	req := withdrawal.Request{
		ID: "wd-1", UserAccount: "u1", Amount: decimal.RequireFromString("10"), Instrument: inst(e.world.Instrument()),
		Receiver: external, ReservedHoldings: []string{cid}, ReservedFunds: decimal.RequireFromString("11"),
		TrecTgt: time.Now().Add(time.Hour),
	}
	w, err := e.store.Create(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created %s %s", w.ID, w.Status)
	req2 := req
	req2.ID = "wd-2"
	_, err = e.store.Create(e.ctx, req2)
	var he *withdrawal.HoldingError
	if !errors.Is(err, withdrawal.ErrHoldingReserved) || !errors.As(err, &he) {
		t.Fatalf("want ErrHoldingReserved, got %v", err)
	}
	req3 := req
	req3.Amount = decimal.RequireFromString("12")
	if _, err := e.store.Create(e.ctx, req3); !errors.Is(err, withdrawal.ErrIDConflict) {
		t.Fatalf("want ErrIDConflict, got %v", err)
	}
	if _, err := e.store.Get(e.ctx, "nope"); !errors.Is(err, withdrawal.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	tr := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "10", Reason: "wd-1", InputHoldings: []string{cid}, Fee: "0.5"})
	if _, err := e.p.Append(tr); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	w, err = e.store.Get(e.ctx, "wd-1")
	if err != nil || w.Status != withdrawal.StatusCompleted {
		t.Fatalf("wd-1: %v %v", w, err)
	}
	ents, err := tokenstd.ListEntries(e.ctx, e.db, schema.DefaultName, tokenstd.EntryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ents {
		t.Logf("%d %s %s %s", en.Seq, en.Kind, en.Amount, en.WithdrawalID)
	}
	bal, err := tokenstd.Balances(e.ctx, e.db, schema.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("balances %v", bal)
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	e.start()
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	_ = e.client.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("goroutines base %d now %d", base, runtime.NumGoroutine())
	var n int
	if err := e.db.GetContext(e.ctx, &n, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	st := e.db.Stats()
	t.Logf("pg sessions %d; pool open %d inuse %d", n, st.OpenConnections, st.InUse)
}
