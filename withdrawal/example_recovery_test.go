package withdrawal_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
)

// A RecoveryHook of an exchange that keeps its users' balances in the
// Integration DB and puts the user account on each withdrawal's transfer
// (metadata key "exchange.example/account"). A request was written, and its
// user debited, after the last backup; the Integration DB restore lost both,
// while the transfer reached the ledger. When ingestion meets the transfer,
// the hook reads the account back from the metadata and debits the user
// again, in the batch's SQL transaction, so the funds cannot be withdrawn
// twice once the gate opens.
func ExampleRecoveryFunc() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleRecoveryFunc")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	// The balances as the backup has them: the debit of wd-7 is lost.
	if _, err := db.ExecContext(ctx, `CREATE TABLE exchange_balance (account text PRIMARY KEY, amount numeric NOT NULL);
		INSERT INTO exchange_balance VALUES ('user-17', 100)`); err != nil {
		panic(err)
	}
	const treasury, accountKey = "treasury::1220ex", "exchange.example/account"
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	world := &ledgertest.TokenWorld{}
	if _, err := p.Append(world.Mint(treasury, "100"),
		world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: "alice::1220a1", Amount: "30", Fee: "0.5",
			Reason: "wd-7", Meta: map[string]string{accountKey: "user-17"}})); err != nil {
		panic(err)
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// The hook starts from the default one and adds the user's side. A
	// withdrawal first seen already ended (rejected, expired, ...) paid
	// nothing out and gets no refund: it is not debited either.
	debitAgain := withdrawal.RecoveryFunc(func(ctx context.Context, tx *sqlx.Tx, o *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
		w, err := withdrawal.RecoverFromLedger(ctx, tx, o)
		if err != nil || (o.Status != withdrawal.StatusCompleted && o.Status != withdrawal.StatusPendingAcceptance) {
			return w, err
		}
		w.UserAccount = o.Meta[accountKey]
		// For an offer (pending_acceptance) Transferred is the amount
		// offered and Fee what the offer itself burned: the acceptance's
		// fee, burned later, is not known yet and is the exchange's to
		// settle. ReservedFunds is what the Refunder gives back if the
		// withdrawal ends without paying out.
		w.ReservedFunds = o.Transferred.Add(o.Fee)
		res, err := tx.ExecContext(ctx, `UPDATE exchange_balance SET amount = amount - $1 WHERE account = $2`, w.ReservedFunds, w.UserAccount)
		if err != nil {
			return nil, err
		}
		// No account on the transfer, or one the exchange does not know,
		// must not pass unnoticed: the payout would be debited to nobody.
		// The error fails the batch, and ingestion stops for an operator.
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return nil, fmt.Errorf("withdrawal %s (update %s at offset %d): no user account %q to debit %s (%d rows, %v)",
				o.ID, o.UpdateID, o.Offset, w.UserAccount, w.ReservedFunds, n, err)
		}
		return w, nil
	})

	// What the hook debits for an offer (pending_acceptance) comes back
	// through the Refunder if the offer ends without paying out: the store
	// needs one that credits the same balances, or that user loses it.
	refund := withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
		_, err := tx.ExecContext(ctx, `UPDATE exchange_balance SET amount = amount + $1 WHERE account = $2`, w.ReservedFunds, w.UserAccount)
		return err
	})
	quiet := slog.New(slog.DiscardHandler)
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refund, Logger: quiet})
	if err != nil {
		panic(err)
	}
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
	if err != nil {
		panic(err)
	}
	rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history, Recovery: debitAgain})
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

	w, err := store.Get(ctx, "wd-7")
	if err != nil {
		panic(err)
	}
	fmt.Println(w.ID, w.Status, "recovered:", w.Recovered, "user", w.UserAccount, "transferred", w.Transferred, "fee", w.Fee)
	var balance string
	if err := db.GetContext(ctx, &balance, `SELECT amount FROM exchange_balance WHERE account = 'user-17'`); err != nil {
		panic(err)
	}
	fmt.Println("user-17 balance:", balance)
	// Output:
	// wd-7 recovered recovered: true user user-17 transferred 30 fee 0.5
	// user-17 balance: 69.5
}
