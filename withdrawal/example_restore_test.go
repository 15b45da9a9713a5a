package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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

// The Integration DB restore runbook in miniature. A request is written
// after the last backup and its transfer reaches the ledger; then the
// database is restored from that backup, which loses the request. The
// procedure keeps the gate closed until ingestion has passed tSafe, and
// meanwhile the Reconciler re-creates the lost request from the ledger,
// marked recovered, so its user cannot withdraw the same funds again.
func ExampleRestoreProcedure() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleRestoreProcedure")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	const treasury, receiver = "treasury::1220ex", "alice::1220a1"
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
	catchUp() // the backup is taken here

	// After the backup, wd-lost is requested and its transfer (of 30, fee
	// 0.5) reaches the ledger; ingestion has not seen it yet.
	req := withdrawal.Request{ID: "wd-lost", UserAccount: "user-17", Amount: decimal.RequireFromString("30"),
		Instrument: tokenstd.Instrument{Admin: world.Instrument().Admin, ID: world.Instrument().ID}, Receiver: receiver,
		ReservedHoldings: []string{mint.Created[0].ContractID}, ReservedFunds: decimal.RequireFromString("30.5"),
		TrecTgt: minted[0].RecordTime.Add(10 * time.Minute)}
	if _, err := store.Create(ctx, req); err != nil {
		panic(err)
	}
	paid, err := p.Append(world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: receiver,
		Amount: "30", InputHoldings: req.ReservedHoldings, Reason: req.ID, Fee: "0.5"}))
	if err != nil {
		panic(err)
	}

	waiting := make(chan struct{})
	var once sync.Once
	proc := withdrawal.RestoreProcedure{
		Store: store,
		// TTL is the longest trecTgt - creation time the exchange gives, plus
		// a margin for the skew between its clock and record time (none
		// here). Now defaults to time.Now; it is fixed here for the output.
		TTL: 10 * time.Minute,
		Now: func() time.Time { return paid[0].RecordTime }, // tSafe = Now() + TTL
		Restore: func(ctx context.Context) error {
			// Stands in for pg_restore of the backup: wd-lost (and its
			// reservation) is gone, and the gate is open, as it was then.
			// A real Restore also stops ingestion first, calls
			// tokenstd.RenumberAfterRestore and starts ingestion again
			// (see RestoreProcedure.Restore); here ingestion is not running.
			_, err := db.ExecContext(ctx, `DELETE FROM txhistory.withdrawal WHERE id = 'wd-lost';
				UPDATE txhistory.withdrawal_gate SET enabled = true, reason = 'from the backup'`)
			return err
		},
		PollInterval: 5 * time.Millisecond,
		Logger:       quiet,
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait {
				once.Do(func() { close(waiting) })
			}
		},
	}
	var report *withdrawal.RestoreReport
	done := make(chan error, 1)
	go func() {
		var err error
		report, err = proc.Run(ctx)
		done <- err
	}()
	printGate := func() {
		g, err := store.Gate(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Printf("gate open: %v (%s)\n", g.Open(), g.Reason)
	}

	<-waiting // step 3: the database is restored, the gate closed again
	printGate()
	_, err = store.Get(ctx, "wd-lost")
	fmt.Println("wd-lost after the restore:", errors.Is(err, withdrawal.ErrNotFound))
	_, err = store.Create(ctx, req)
	fmt.Println("a new request:", errors.Is(err, withdrawal.ErrWithdrawalsDisabled))

	// Ingestion re-ingests what came after the backup: the transfer of the
	// lost request, which the default RecoveryHook re-creates.
	catchUp()
	w, err := store.Get(ctx, "wd-lost")
	if err != nil {
		panic(err)
	}
	fmt.Println(w.ID, w.Status, "recovered:", w.Recovered, "transferred", w.Transferred, "fee", w.Fee)
	printGate() // the ingested record time is not past tSafe yet

	// The treasury's next transaction, a minute after tSafe, moves the
	// ingested record time past it: the procedure opens the gate.
	late := world.Mint(treasury, "5")
	late.RecordTime = paid[0].RecordTime.Add(11 * time.Minute)
	if _, err := p.Append(late); err != nil {
		panic(err)
	}
	catchUp()
	if err := <-done; err != nil {
		panic(err)
	}
	fmt.Println("tSafe", report.TSafe.Format("15:04:05.000"), "ingested", report.Ingested.Format("15:04:05.000"))
	printGate()
	// Output:
	// gate open: false (Integration DB restore: step 2, the restored gate)
	// wd-lost after the restore: true
	// a new request: true
	// wd-lost recovered recovered: true transferred 30 fee 0.5
	// gate open: false (Integration DB restore: step 2, the restored gate)
	// tSafe 00:10:00.001 ingested 00:11:00.001
	// gate open: true (Integration DB restore: step 4, ingested record time past tSafe 2026-01-01T00:10:00.001Z)
}
