package recovery_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
)

// The validator node restore runbook, end to end: the exchange ingests its
// token history, its validator node is restored from a backup older than
// what the Integration DB holds, and the runbook rewinds the checkpoint so
// that ingestion resumes with nothing skipped and nothing booked twice.
func ExamplePlan() {
	ctx := context.Background()
	const treasury = "treasury::1220ex"
	db, drop, err := pgtest.Open(ctx, "ExamplePlan")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	// The validator node, with its admin API, which the runbook's look-up needs.
	p, err := ledgertest.New(ledgertest.WithSeparateAdmin())
	if err != nil {
		panic(err)
	}
	defer p.Close()
	client, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true},
		Admin:     ledger.Endpoint{Target: p.AdminAddr(), Insecure: true},
	})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ingestAll := func() ingest.Stats { // a bounded catch-up to the ledger end
		h, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
		if err != nil {
			panic(err)
		}
		ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, Handler: h, EndOffset: p.LedgerEnd(), Logger: quiet})
		if err != nil {
			panic(err)
		}
		if err := ing.Run(ctx); err != nil {
			panic(err)
		}
		return ing.Stats()
	}

	// Deposits and withdrawals, with fixed update ids and record times.
	transfers := ledgertest.TransferHistory{Treasury: treasury, Customers: 3, WithdrawEvery: 3}
	appendTransfers := func(from, to int) {
		for i := from; i <= to; i++ {
			tx := transfers.Tx(i)
			tx.UpdateID = fmt.Sprintf("transfer-%d", i)
			tx.RecordTime = ledgertest.DefaultStartTime.Add(time.Duration(i) * time.Second)
			if _, err := p.Append(tx); err != nil {
				panic(err)
			}
		}
	}
	// The node is backed up after four transfers; the exchange goes on to
	// six, ingests them all, and stops ingestion (runbook step 1).
	appendTransfers(1, 4)
	backup := p.Backup()
	appendTransfers(5, 6)
	fmt.Println("ingested:", ingestAll().Transactions, "transactions up to offset", p.LedgerEnd())

	// The node is restored: it recovers transfers 5 and 6 from the
	// synchronizer, with the same update ids and record times but new offsets.
	p.Restore(backup)
	fmt.Println("restored node's ledger end:", p.LedgerEnd())

	// Steps 1, 2 and 5: ingestion is stopped; Plan reads tRecovery from the
	// Integration DB and looks offRecovery up through the admin API.
	if err := recovery.CheckStopped(ctx, db, ""); err != nil {
		panic(err)
	}
	rw, err := recovery.Plan(ctx, db, client, recovery.Options{Parties: []string{treasury}, Logger: quiet})
	if err != nil {
		panic(err)
	}
	fmt.Println("last ingested:", rw.LastUpdateID, "at", rw.RecoveryTime.Format(time.RFC3339Nano), "offset", rw.IngestedOffset, "now at", rw.ParticipantOffset)
	fmt.Println("looked up as of:", rw.LookupTime.Format(time.RFC3339Nano))
	fmt.Printf("rewind: %d -> offRecovery %d (restored: %v)\n", rw.From, rw.To, rw.Restored())

	// Step 6 rewrites the checkpoint; step 7 restarts ingestion, which reads
	// transfer 6 again (dedup drops it) and goes on with a new transfer.
	if err := recovery.Apply(ctx, db, rw); err != nil {
		panic(err)
	}
	appendTransfers(7, 7)
	st := ingestAll()
	fmt.Println("resumed:", st.Transactions, "new,", st.Skipped, "dropped by dedup")

	// The token history holds each transfer once: 5 and 6 at the offsets they
	// were first ingested at, 7 at the restored node's numbering.
	entries, err := tokenstd.ListEntries(ctx, db, schema.DefaultName, tokenstd.EntryFilter{})
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Println(e.UpdateID, "at offset", e.Offset, e.Kind, e.Amount)
	}
	balances, err := tokenstd.Balances(ctx, db, schema.DefaultName)
	if err != nil {
		panic(err)
	}
	for inst, b := range balances {
		fmt.Println("balance:", inst, b)
	}
	// Output:
	// ingested: 6 transactions up to offset 6
	// restored node's ledger end: 1006
	// last ingested: transfer-6 at 2026-01-01T00:00:06Z offset 6 now at 1006
	// looked up as of: 2026-01-01T00:00:05.999999Z
	// rewind: 6 -> offRecovery 1005 (restored: true)
	// resumed: 1 new, 1 dropped by dedup
	// transfer-1 at offset 1 deposit 11.01
	// transfer-2 at offset 2 deposit 12.02
	// transfer-3 at offset 3 withdrawal -5.1
	// transfer-4 at offset 4 deposit 14.04
	// transfer-5 at offset 5 deposit 15.05
	// transfer-6 at offset 6 withdrawal -5.1
	// transfer-7 at offset 1007 deposit 17.07
	// balance: Amulet@DSO::1220d50 58.99
}
