package embedcheck

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
)

func (e *exch) waitDone() error {
	select {
	case err := <-e.done:
		return err
	case <-time.After(30 * time.Second):
		e.t.Fatal("ingester did not stop")
		return nil
	}
}

func TestEmbedAnomalyErrorsAs(t *testing.T) {
	e := newExch(t)
	e.start()
	op := e.world.MintOp(treasury, "100")
	op2 := e.world.MintOp(treasury, "100")
	if _, err := e.p.Append(e.world.Tx(op, op2)); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	cid := op.Created[0].ContractID
	req := withdrawal.Request{
		ID: "wd-1", UserAccount: "u1", Amount: decimal.RequireFromString("10"), Instrument: inst(e.world.Instrument()),
		Receiver: external, ReservedHoldings: []string{cid}, ReservedFunds: decimal.RequireFromString("11"),
		TrecTgt: time.Now().Add(time.Hour),
	}
	if _, err := e.store.Create(e.ctx, req); err != nil {
		t.Fatal(err)
	}
	tr := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "10", Reason: "wd-1", InputHoldings: []string{cid}})
	tr2 := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "10", Reason: "wd-1", InputHoldings: []string{op2.Created[0].ContractID}})
	if _, err := e.p.Append(tr); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	if _, err := e.p.Append(tr2); err != nil {
		t.Fatal(err)
	}
	err := e.waitDone()
	var a *withdrawal.Anomaly
	t.Logf("err: %v", err)
	if !errors.Is(err, withdrawal.ErrAnomaly) || !errors.As(err, &a) {
		t.Fatalf("want anomaly, got %v", err)
	}
}

func TestEmbedParseErrorAndPanic(t *testing.T) {
	e := newExch(t)
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		if len(b.Transactions) > 0 {
			panic(errors.New("boom"))
		}
		return nil
	})
	ing, err := ingest.New(e.db, e.client, ingest.Config{Parties: []string{treasury}, Handler: h, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Append(e.world.Mint(treasury, "5")); err != nil {
		t.Fatal(err)
	}
	err = ing.Run(e.ctx)
	t.Logf("err: %v", err)
	if !errors.Is(err, ingest.ErrHandlerPanicked) {
		t.Fatalf("got %v", err)
	}
}

func TestEmbedUnknownAccountAndSetAside(t *testing.T) {
	e := newExch(t)
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet,
		Credit: tokenstd.CreditFunc(func(ctx context.Context, tx *sqlx.Tx, en *tokenstd.Entry) error {
			return fmt.Errorf("account %q: %w", en.Account, tokenstd.ErrUnknownAccount)
		})})
	if err != nil {
		t.Fatal(err)
	}
	ing, err := ingest.New(e.db, e.client, ingest.Config{Parties: []string{treasury}, Handler: history, Logger: quiet, EndOffset: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Append(e.world.Mint("alice::1", "50"), e.world.Transfer(ledgertest.TransferSpec{Sender: "alice::1", Receiver: treasury, Amount: "10", Reason: "acct"})); err != nil {
		t.Fatal(err)
	}
	if err = ing.Run(e.ctx); err != nil {
		t.Fatal(err)
	}
	ents, err := tokenstd.ListEntries(e.ctx, e.db, "txhistory", tokenstd.EntryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ents {
		t.Logf("%s %s %s", en.Kind, en.Amount, en.Account)
	}
	if err := ing.ResolveSetAside(e.ctx, "nope", "x"); !errors.Is(err, ingest.ErrNotSetAside) {
		t.Fatalf("resolve: %v", err)
	}
}

func TestEmbedLockFail(t *testing.T) {
	e := newExch(t)
	e.start()
	for e.ing.Stats().State != ingest.StateStreaming {
		time.Sleep(5 * time.Millisecond)
	}
	ing, err := ingest.New(e.db, e.client, ingest.Config{Parties: []string{treasury}, Logger: quiet, Lock: ingest.LockFail})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err = ing.Run(e.ctx)
		if err != nil || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("err: %v", err)
	if !errors.Is(err, ingest.ErrAnotherIngester) {
		t.Fatalf("got %v", err)
	}
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestEmbedGateDisabled(t *testing.T) {
	e := newExch(t)
	if err := e.store.Disable(e.ctx, "maintenance"); err != nil {
		t.Fatal(err)
	}
	_, err := e.store.Create(e.ctx, withdrawal.Request{ID: "wd-1", UserAccount: "u", Amount: decimal.RequireFromString("1"),
		Instrument: inst(e.world.Instrument()), Receiver: external, ReservedHoldings: []string{"x"}, TrecTgt: time.Now()})
	t.Logf("err: %v", err)
	if !errors.Is(err, withdrawal.ErrWithdrawalsDisabled) {
		t.Fatalf("got %v", err)
	}
	_, err = e.store.Create(e.ctx, withdrawal.Request{ID: " bad"})
	t.Logf("err: %v", err)
}
