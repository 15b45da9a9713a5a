package tokenstd_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
)

// Credit deposits to the exchange's users as they are ingested. A deposit's
// account is the reason its sender wrote in the transfer's metadata (the
// memo the exchange told the user to give). The DepositCrediter runs in the
// batch's SQL transaction, so a deposit is credited exactly when it is
// recorded; its balance table lives in the Integration DB for that reason.
// A reason that names no user is answered with ErrUnknownAccount: the deposit
// is kept as deposit_unassigned, for the operators, and ingestion goes on.
// The History lists the one instrument the exchange credits: anyone can
// create a token of its own, even one named Amulet, and send it to the
// treasury with a user's account as reason; left unlisted, its deposits
// would reach the crediter, which credits amounts whatever their instrument.
func ExampleCreditFunc() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleCreditFunc")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE user_balance (account text PRIMARY KEY, amount numeric NOT NULL);
		INSERT INTO user_balance VALUES ('acct-42', 0), ('acct-7', 0)`); err != nil {
		panic(err)
	}

	credit := tokenstd.CreditFunc(func(ctx context.Context, tx *sqlx.Tx, e *tokenstd.Entry) error {
		// Find the account unknown before writing anything with tx.
		var exists bool
		err := tx.GetContext(ctx, &exists, `SELECT true FROM user_balance WHERE account = $1`, e.Account)
		if errors.Is(err, sql.ErrNoRows) {
			return tokenstd.ErrUnknownAccount
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE user_balance SET amount = amount + $2 WHERE account = $1`, e.Account, e.Amount)
		return err
	})

	const treasury = "treasury::1220ex"
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	w := &ledgertest.TokenWorld{}
	deposit := func(reason, amount string) *ledger.Transaction {
		return w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: amount, Reason: reason})
	}
	// A token of mallory's own, with the same id as Amulet.
	forged := ledgertest.TokenInstrument{Admin: "mallory::1220ff", ID: w.Instrument().ID}
	if _, err := p.Append(w.Mint("alice::1220a1", "100"),
		deposit("acct-42", "60"), deposit("acct-7", "12.5"), deposit("acct-42", "5"), deposit("acct-999", "1"),
		w.Mint("mallory::1220ff", "1000", forged),
		w.Transfer(ledgertest.TransferSpec{Sender: "mallory::1220ff", Receiver: treasury, Amount: "1000", Reason: "acct-42", Instrument: forged}),
	); err != nil {
		panic(err)
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	amulet := tokenstd.Instrument{Admin: w.Instrument().Admin, ID: w.Instrument().ID}
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Credit: credit,
		Instruments: []tokenstd.Instrument{amulet}}) // the forged token's deposit is ignored
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

	var balances []struct {
		Account string
		Amount  string
	}
	if err := db.SelectContext(ctx, &balances, `SELECT account, amount::text AS amount FROM user_balance ORDER BY account`); err != nil {
		panic(err)
	}
	for _, b := range balances {
		fmt.Println("user", b.Account, "balance", b.Amount)
	}
	unassigned, err := tokenstd.ListEntries(ctx, db, schema.DefaultName, tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDepositUnassigned}})
	if err != nil {
		panic(err)
	}
	for _, e := range unassigned {
		fmt.Printf("%s: %s of %s, reason %q\n", e.UpdateID, e.Kind, e.Amount, e.Reason)
	}
	// Output:
	// user acct-42 balance 65
	// user acct-7 balance 12.5
	// upd-5: deposit_unassigned of 1, reason "acct-999"
}
