package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
)

// An exchange's ingestion, end to end: migrate the Integration DB, point an
// Ingester at the participant hosting the treasury party, let the token
// standard History handler classify what arrives, and read back where
// ingestion stands and what it recorded.
func Example() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleIngest")
	if err != nil {
		panic(err)
	}
	defer drop()
	// The tables (checkpoint, dedup, token history) live in schema.DefaultName.
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}

	// A fake participant on which two customers deposit to the treasury,
	// each naming her account in the transfer's reason. The mints are not
	// the treasury's business: its stream does not carry them.
	const treasury = "treasury::1220ex"
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	w := &ledgertest.TokenWorld{}
	if _, err := p.Append(
		w.Mint("alice::1220a1", "100"),
		w.Mint("bob::1220b2", "50"),
		w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: "60", Reason: "acct-42"}),
		w.Transfer(ledgertest.TransferSpec{Sender: "bob::1220b2", Receiver: treasury, Amount: "12.5", Reason: "acct-7"}),
	); err != nil {
		panic(err)
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// The History handler writes the treasury's holdings and history in
	// each batch's SQL transaction, with the dedup rows and the checkpoint.
	// It counts only the instruments listed: anyone can send the treasury a
	// token of their own making.
	amulet := tokenstd.Instrument{Admin: w.Instrument().Admin, ID: w.Instrument().ID}
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Instruments: []tokenstd.Instrument{amulet}})
	if err != nil {
		panic(err)
	}
	ing, err := ingest.New(db, client, ingest.Config{
		Parties:   []string{treasury},
		Handler:   history,
		EndOffset: p.LedgerEnd(), // a bounded catch-up: Run returns nil there
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	if err := ing.Run(ctx); err != nil {
		panic(err)
	}

	// The checkpoint says where the next Run resumes, and which transaction
	// was ingested last.
	store, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		panic(err)
	}
	cp, _, err := store.Get(ctx, db)
	if err != nil {
		panic(err)
	}
	fmt.Printf("checkpoint: offset %d, last update %s\n", cp.Offset, cp.UpdateID)

	entries, err := tokenstd.ListEntries(ctx, db, schema.DefaultName, tokenstd.EntryFilter{})
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Printf("offset %d %s: %s %s from %s to account %q\n", e.Offset, e.UpdateID, e.Kind, e.Amount, e.Counterparty, e.Account)
	}
	// Output:
	// checkpoint: offset 4, last update upd-4
	// offset 3 upd-3: deposit 60 from alice::1220a1 to account "acct-42"
	// offset 4 upd-4: deposit 12.5 from bob::1220b2 to account "acct-7"
}
