package checkpoint_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// Read where ingestion stands: what a dashboard, a reconciliation job or an
// operator before a restore wants to know.
func ExampleStore_Get() {
	ctx := context.Background()
	const treasury = "treasury::1220ex"
	db, drop, err := pgtest.Open(ctx, "ExampleStore_Get")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	store, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		panic(err)
	}
	// Before the first Run there is no checkpoint.
	_, found, err := store.Get(ctx, db)
	if err != nil {
		panic(err)
	}
	fmt.Println("found before ingestion:", found)

	// Three transfers of the treasury, and one of someone else that the
	// treasury's stream never shows.
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	transfers := ledgertest.TransferHistory{Treasury: treasury, Customers: 2, WithdrawEvery: -1}
	for i := 1; i <= 3; i++ {
		tx := transfers.Tx(i)
		tx.UpdateID = fmt.Sprintf("deposit-%d", i)
		tx.RecordTime = ledgertest.DefaultStartTime.Add(time.Duration(i) * time.Second)
		if _, err := p.Append(tx); err != nil {
			panic(err)
		}
	}
	other := ledgertest.TransferHistory{Treasury: "other::1220ff"}.Tx(4)
	other.RecordTime = ledgertest.DefaultStartTime.Add(4 * time.Second)
	if _, err := p.Append(other); err != nil {
		panic(err)
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, EndOffset: p.LedgerEnd(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	if err := ing.Run(ctx); err != nil {
		panic(err)
	}

	// The checkpoint's offset is past the last transaction ingested (3):
	// the bounded Run moved it to the ledger end (4), as the stream showed
	// nothing more for the treasury. The last transaction ingested, its
	// record time and synchronizer are tRecovery for the restore runbook.
	cp, found, err := store.Get(ctx, db)
	if err != nil {
		panic(err)
	}
	fmt.Println("found:", found, "offset:", cp.Offset, "parties:", cp.Parties)
	fmt.Println("last ingested:", cp.UpdateID, "at offset", cp.UpdateOffset, "on", cp.SynchronizerID)
	fmt.Println("its record time:", cp.RecordTime.Format(time.RFC3339))
	// The record time reached per synchronizer moves with the treasury's
	// transactions and with OffsetCheckpoints, which a bounded stream does
	// not carry: the other party's transaction at 00:00:04 is not counted.
	fmt.Println("record time reached on", ledgertest.DefaultSynchronizer+":", cp.RecordTimeOn(ledgertest.DefaultSynchronizer).Format(time.RFC3339))
	// Output:
	// found before ingestion: false
	// found: true offset: 4 parties: [treasury::1220ex]
	// last ingested: deposit-3 at offset 3 on global-domain::1220aa
	// its record time: 2026-01-01T00:00:03Z
	// record time reached on global-domain::1220aa: 2026-01-01T00:00:03Z
}
