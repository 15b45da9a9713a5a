package embedcheck

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
)

func TestEmbedIdempotentAfterCompletion(t *testing.T) {
	e := newExch(t)
	e.start()
	op := e.world.MintOp(treasury, "100")
	if _, err := e.p.Append(e.world.Tx(op)); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	cid := op.Created[0].ContractID
	req := withdrawal.Request{
		ID: "wd-1", UserAccount: "u1", Amount: decimal.RequireFromString("10.50"), Instrument: inst(e.world.Instrument()),
		Receiver: external, ReservedHoldings: []string{cid}, ReservedFunds: decimal.RequireFromString("11"),
		TrecTgt: time.Now().Add(time.Hour).In(time.FixedZone("x", 3600)),
	}
	if _, err := e.store.Create(e.ctx, req); err != nil {
		t.Fatal(err)
	}
	tr := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "10.5", Reason: "wd-1", InputHoldings: []string{cid}})
	if _, err := e.p.Append(tr); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	if err := e.store.Disable(e.ctx, "x"); err != nil {
		t.Fatal(err)
	}
	req.Amount = decimal.RequireFromString("10.5")
	w, err := e.store.Create(e.ctx, req)
	if err != nil {
		t.Fatalf("repeat create: %v", err)
	}
	t.Logf("status %s", w.Status)
	_ = e.stop()
}
