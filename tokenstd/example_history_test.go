package tokenstd_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
)

// Read the treasury's history once the History handler has ingested it:
// page through the entries in ingestion order with EntryFilter.AfterSeq
// (the cursor a reader keeps, here two entries a page), then the balances
// of its live holdings.
func ExampleHistory() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleHistory")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}

	// Two deposits, then a withdrawal the treasury pays a fee for.
	const treasury = "treasury::1220ex"
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	w := &ledgertest.TokenWorld{}
	if _, err := p.Append(
		w.Mint("alice::1220a1", "100"),
		w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: "60", Reason: "acct-42"}),
		w.Mint("bob::1220b2", "50"),
		w.Transfer(ledgertest.TransferSpec{Sender: "bob::1220b2", Receiver: treasury, Amount: "20", Reason: "acct-7"}),
		w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: "carol::1220c3", Amount: "25", Fee: "0.25", Reason: "wd-1"}),
	); err != nil {
		panic(err)
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	// The History counts only the instruments the exchange lists (see
	// Config.Instruments): anyone can send the treasury a token of their own.
	amulet := tokenstd.Instrument{Admin: w.Instrument().Admin, ID: w.Instrument().ID}
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Instruments: []tokenstd.Instrument{amulet}})
	if err != nil {
		panic(err)
	}
	ing, err := ingest.New(db, client, ingest.Config{
		Parties: []string{treasury}, Handler: history, EndOffset: p.LedgerEnd(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	if err := ing.Run(ctx); err != nil {
		panic(err)
	}

	// Page by Seq: each page starts after the last entry of the one before.
	// An empty page means the reader has caught up; it keeps its cursor and
	// asks again later for what ingestion adds.
	var cursor int64
	for page := 1; ; page++ {
		entries, err := tokenstd.ListEntries(ctx, db, schema.DefaultName, tokenstd.EntryFilter{AfterSeq: cursor, Limit: 2})
		if err != nil {
			panic(err)
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			fmt.Printf("page %d: %s %s %s, fee %s, account %q, withdrawal %q\n", page, e.UpdateID, e.Kind, e.Amount, e.Fee, e.Account, e.WithdrawalID)
		}
		cursor = entries[len(entries)-1].Seq
	}

	// The balances are the sums of the live holdings, per instrument.
	balances, err := history.Balances(ctx, db)
	if err != nil {
		panic(err)
	}
	for inst, amount := range balances { // one instrument here
		fmt.Println("balance", inst, amount)
	}
	// Output:
	// page 1: upd-2 deposit 60, fee 0, account "acct-42", withdrawal ""
	// page 1: upd-4 deposit 20, fee 0, account "acct-7", withdrawal ""
	// page 2: upd-5 withdrawal -25.25, fee 0.25, account "", withdrawal "wd-1"
	// balance Amulet@DSO::1220d50 54.75
}
