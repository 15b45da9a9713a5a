package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
)

// The withdrawal gate, the operator's brake: while it is closed, Create
// refuses every request with ErrWithdrawalsDisabled and the Automation
// submits nothing. Closing waits for the creates in flight, so once
// Disable returns nothing more gets through. Each change is audited with
// its reason and the ingested record time it was made at.
func ExampleStore_Disable() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleStore_Disable")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	const treasury = "treasury::1220ex"
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	// The treasury holds 100, ingested, so that a request can reserve it.
	world := &ledgertest.TokenWorld{}
	mint := world.MintOp(treasury, "100")
	minted, err := p.Append(world.Tx(mint))
	if err != nil {
		panic(err)
	}
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
	if err != nil {
		panic(err)
	}
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, Handler: history,
		EndOffset: p.LedgerEnd(), Logger: quiet})
	if err != nil {
		panic(err)
	}
	if err := ing.Run(ctx); err != nil {
		panic(err)
	}
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quiet})
	if err != nil {
		panic(err)
	}

	printGate := func() {
		g, err := store.Gate(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Printf("gate open: %v (%s)\n", g.Open(), g.Reason)
	}
	printGate() // a new Integration DB takes withdrawals at once

	// An incident: the operator closes the gate, and a user's request is
	// refused; the exchange tells the user to try later.
	if err := store.Disable(ctx, "incident 4711: registry upgrade"); err != nil {
		panic(err)
	}
	req := withdrawal.Request{ID: "wd-1", UserAccount: "user-17", Amount: decimal.RequireFromString("30"),
		Instrument: tokenstd.Instrument{Admin: world.Instrument().Admin, ID: world.Instrument().ID}, Receiver: "alice::1220a1",
		ReservedHoldings: []string{mint.Created[0].ContractID}, ReservedFunds: decimal.RequireFromString("30.5"),
		TrecTgt: minted[0].RecordTime.Add(10 * time.Minute)}
	_, err = store.Create(ctx, req)
	fmt.Println("create while closed refused:", errors.Is(err, withdrawal.ErrWithdrawalsDisabled))
	printGate()

	// The incident is over: the gate opens and the same request goes in.
	if err := store.Enable(ctx, "incident 4711 resolved"); err != nil {
		panic(err)
	}
	w, err := store.Create(ctx, req)
	if err != nil {
		panic(err)
	}
	fmt.Println("create after Enable:", w.ID, w.Status)

	// The audit trail, oldest first (ChangedAt, the database's clock, is
	// there too).
	log, err := store.GateLog(ctx)
	if err != nil {
		panic(err)
	}
	for _, c := range log {
		at := "nothing ingested"
		if !c.IngestedRecordTime.IsZero() {
			at = "ingested " + c.IngestedRecordTime.Format(time.RFC3339Nano)
		}
		fmt.Printf("log: enabled=%v %q (%s)\n", c.Enabled, c.Reason, at)
	}
	// Output:
	// gate open: true (opened by migration 003_withdrawal)
	// create while closed refused: true
	// gate open: false (incident 4711: registry upgrade)
	// create after Enable: wd-1 requested
	// log: enabled=false "incident 4711: registry upgrade" (ingested 2026-01-01T00:00:00Z)
	// log: enabled=true "incident 4711 resolved" (ingested 2026-01-01T00:00:00Z)
}
