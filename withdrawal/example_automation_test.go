package withdrawal_test

import (
	"context"
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

// A withdrawal from request to payout: the exchange's API writes the
// request with the Store, the Automation hands it to the exchange's
// Submitter, and ingestion, with the History handler and the Reconciler
// chained, sees its transfer on the ledger and completes it.
func ExampleAutomation() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleAutomation")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	const treasury, receiver = "treasury::1220ex", "alice::1220a1"

	// A fake participant stands for the treasury's validator node, and a
	// TokenWorld scripts its token standard transactions: a mint gives the
	// treasury a holding of 100 Amulet.
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
	world := &ledgertest.TokenWorld{}
	mint := world.MintOp(treasury, "100")
	minted, err := p.Append(world.Tx(mint))
	if err != nil {
		panic(err)
	}

	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quiet})
	if err != nil {
		panic(err)
	}
	// catchUp ingests the ledger up to its end, as the ingestion service
	// does continuously: History first, then the Reconciler, in one batch.
	catchUp := func() {
		history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
		if err != nil {
			panic(err)
		}
		rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history})
		if err != nil {
			panic(err)
		}
		ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury},
			Handler: ingest.Handlers(history, rec), EndOffset: p.LedgerEnd(), Logger: quiet})
		if err != nil {
			panic(err)
		}
		if err := ing.Run(ctx); err != nil {
			panic(err)
		}
	}
	catchUp() // the holding is known now, and can be reserved

	// A user asks for 40 Amulet. The request reserves the holding, and
	// 40.5 of the user's funds (the amount and the expected fee); its
	// transfer must commit before trecTgt, ten minutes of record time on.
	w, err := store.Create(ctx, withdrawal.Request{
		ID: "wd-1", UserAccount: "user-17", Amount: decimal.RequireFromString("40"),
		Instrument:       tokenstd.Instrument{Admin: world.Instrument().Admin, ID: world.Instrument().ID},
		Receiver:         receiver,
		ReservedHoldings: []string{mint.Created[0].ContractID}, ReservedFunds: decimal.RequireFromString("40.5"),
		TrecTgt: minted[0].RecordTime.Add(10 * time.Minute),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(w.ID, w.Status)

	// The exchange's Submitter would submit TransferFactory_Transfer on its
	// own Ledger API client, with w.ID as the command id and an
	// executeBefore that lets it commit by w.TrecTgt (see Submitter); here
	// it appends that transfer to the fake ledger: exactly the reserved
	// holdings, the withdrawal id as reason.
	submit := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		_, err := p.Append(world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver,
			Amount: w.Amount.String(), InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.5"}))
		return err
	})
	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Submitter: submit})
	if err != nil {
		panic(err)
	}
	round, err := auto.RunOnce(ctx) // a service calls auto.Run(ctx) instead
	if err != nil {
		panic(err)
	}
	w, err = store.Get(ctx, "wd-1")
	if err != nil {
		panic(err)
	}
	fmt.Println(w.ID, w.Status, "- submitted in this round:", round.Submitted)

	// Ingestion sees the transfer: the withdrawal is paid out, with the
	// fee the ledger charged, and the history has the treasury's outflow.
	catchUp()
	w, err = store.Get(ctx, "wd-1")
	if err != nil {
		panic(err)
	}
	fmt.Println(w.ID, w.Status, "- transferred", w.Transferred, "fee", w.Fee, "at offset", w.Offset)
	entries, err := tokenstd.ListEntries(ctx, db, schema.DefaultName, tokenstd.EntryFilter{})
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Printf("history: offset %d %s %s (fee %s) withdrawal %q\n", e.Offset, e.Kind, e.Amount, e.Fee, e.WithdrawalID)
	}
	// Output:
	// wd-1 requested
	// wd-1 submitted - submitted in this round: 1
	// wd-1 completed - transferred 40 fee 0.5 at offset 2
	// history: offset 1 mint 100 (fee 0) withdrawal ""
	// history: offset 2 withdrawal -40.5 (fee 0.5) withdrawal "wd-1"
}
