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
	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
)

// A withdrawal whose transfer never reaches the ledger (every Submit
// failed, say) expires once the ingested record time is past its trecTgt,
// and the Refunder credits the user back, once, in the batch that
// expires it. Record time is the clock: the exchange's own clock plays no
// part.
func ExampleReconciler_expiry() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleReconciler_expiry")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	// The exchange's ledger of user funds lives in the Integration DB too,
	// so that a restore brings its refunds back with the withdrawals.
	if _, err := db.ExecContext(ctx, `CREATE TABLE public.refund (withdrawal_id text PRIMARY KEY, account text, amount numeric)`); err != nil {
		panic(err)
	}
	refund := withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO public.refund VALUES ($1, $2, $3)`, w.ID, w.UserAccount, w.ReservedFunds)
		return err
	})
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
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refund, Logger: quiet})
	if err != nil {
		panic(err)
	}
	world := &ledgertest.TokenWorld{}
	mint := world.MintOp(treasury, "100")
	minted, err := p.Append(world.Tx(mint))
	if err != nil {
		panic(err)
	}
	trecTgt := minted[0].RecordTime.Add(10 * time.Minute)

	// catchUp stands for the ingestion service: it ingests to the ledger end.
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
	// tick moves the ingested record time to at, with a treasury
	// transaction at that record time (a tailing stream's offset
	// checkpoints move it too), and prints the withdrawal and its refunds.
	tick := func(at time.Time, label string) {
		tx := world.Mint(treasury, "1")
		tx.RecordTime = at
		if _, err := p.Append(tx); err != nil {
			panic(err)
		}
		catchUp()
		w, err := store.Get(ctx, "wd-2")
		if err != nil {
			panic(err)
		}
		var refunds []string
		if err := db.SelectContext(ctx, &refunds, `SELECT account || ' ' || amount FROM public.refund WHERE withdrawal_id = 'wd-2'`); err != nil {
			panic(err)
		}
		fmt.Printf("ingested to %s: %s, refunds %v\n", label, w.Status, refunds)
	}
	catchUp() // the holding is ingested before the request reserves it

	if _, err := store.Create(ctx, withdrawal.Request{
		ID: "wd-2", UserAccount: "user-17", Amount: decimal.RequireFromString("25"),
		Instrument:       tokenstd.Instrument{Admin: world.Instrument().Admin, ID: world.Instrument().ID},
		Receiver:         "alice::1220a1",
		ReservedHoldings: []string{mint.Created[0].ContractID}, ReservedFunds: decimal.RequireFromString("25.5"),
		TrecTgt: trecTgt,
	}); err != nil {
		panic(err)
	}
	tick(trecTgt.Add(-time.Minute), "trecTgt-1m")
	tick(trecTgt, "trecTgt") // a transfer may still commit at exactly trecTgt
	tick(trecTgt.Add(time.Millisecond), "trecTgt+1ms")
	tick(trecTgt.Add(time.Hour), "trecTgt+1h") // refunded once, not again
	held, err := store.Reservations(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("holdings still reserved:", len(held))
	// Output:
	// ingested to trecTgt-1m: requested, refunds []
	// ingested to trecTgt: requested, refunds []
	// ingested to trecTgt+1ms: expired, refunds [user-17 25.5]
	// ingested to trecTgt+1h: expired, refunds [user-17 25.5]
	// holdings still reserved: 0
}
