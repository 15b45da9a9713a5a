package dedup_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// What the dedup table answers after ingestion. Record times are unique
// per synchronizer unless participant-local operations (ACS imports, party
// migration or replication, repair commands) rewrote the history: here the
// last three deposits share one. The checkpoint names only the last of them
// (tRecovery), so the validator node restore runbook (package recovery, in
// its default ModeNonUnique) resumes a little before it (tRecovery − 1µs)
// and streams all three again;
// the dedup table, which the Ingester writes in each batch, knows them, and
// they are skipped. At lists exactly the transactions such a replay meets
// again.
func ExampleStore() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleDedupStore")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	const treasury = "treasury::1220ex"
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	w := &ledgertest.TokenWorld{}
	t0 := ledgertest.DefaultStartTime.Add(time.Second)
	t1 := t0.Add(time.Second)
	deposit := func(amount string, rt time.Time) *ledger.Transaction {
		tx := w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: amount})
		tx.RecordTime = rt
		return tx
	}
	if _, err := p.Append(w.Mint("alice::1220a1", "100"),
		deposit("1", t0),
		deposit("2", t1), deposit("3", t1), deposit("4", t1), // one record time
	); err != nil {
		panic(err)
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury},
		EndOffset: p.LedgerEnd(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	if err := ing.Run(ctx); err != nil {
		panic(err)
	}

	// The store reads the ingested_update table of the schema.
	ids, err := dedup.NewStore(schema.DefaultName)
	if err != nil {
		panic(err)
	}
	n, err := ids.Count(ctx, db)
	if err != nil {
		panic(err)
	}
	fmt.Println("ingested update ids:", n)

	// A support question: was this update ingested, and where?
	off, found, err := ids.OffsetOf(ctx, db, "upd-3")
	if err != nil {
		panic(err)
	}
	fmt.Println("upd-3 ingested:", found, "at offset", off)
	mint, err := ids.Contains(ctx, db, "upd-1")
	if err != nil {
		panic(err)
	}
	fmt.Println("upd-1 (not the treasury's) ingested:", mint)

	// The checkpoint names the last transaction ingested: tRecovery.
	store, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		panic(err)
	}
	cp, _, err := store.Get(ctx, db)
	if err != nil {
		panic(err)
	}
	fmt.Printf("checkpoint: offset %d, %s at %s\n", cp.Offset, cp.UpdateID, cp.RecordTime.Format("15:04:05.000"))
	// The runbook's question: which ingested transactions share tRecovery
	// on its synchronizer? A replay from tRecovery − 1µs meets them again.
	same, err := ids.At(ctx, db, cp.SynchronizerID, cp.RecordTime)
	if err != nil {
		panic(err)
	}
	for _, u := range same {
		fmt.Printf("at %s: %s offset %d\n", u.RecordTime.Format("15:04:05.000"), u.UpdateID, u.Offset)
	}

	// A report after a restore: everything ingested from a record time on.
	since, err := ids.Since(ctx, db, t0)
	if err != nil {
		panic(err)
	}
	for _, u := range since {
		fmt.Printf("since %s: %s offset %d\n", u.RecordTime.Format("15:04:05.000"), u.UpdateID, u.Offset)
	}

	// Output:
	// ingested update ids: 4
	// upd-3 ingested: true at offset 3
	// upd-1 (not the treasury's) ingested: false
	// checkpoint: offset 5, upd-5 at 00:00:02.000
	// at 00:00:02.000: upd-3 offset 3
	// at 00:00:02.000: upd-4 offset 4
	// at 00:00:02.000: upd-5 offset 5
	// since 00:00:01.000: upd-2 offset 2
	// since 00:00:02.000: upd-3 offset 3
	// since 00:00:02.000: upd-4 offset 4
	// since 00:00:02.000: upd-5 offset 5
}
