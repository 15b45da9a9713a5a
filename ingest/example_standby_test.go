package ingest_test

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
)

// A hot standby: two replicas of the ingestion service run on one
// Integration DB (one schema). Under LockWait, the default, only the one
// holding the schema's ingestion lock (a PostgreSQL advisory lock) ingests;
// the other waits in StateWaitingForLock. When the active one stops (a
// deploy, a crash: the lock goes with its session), the standby takes the
// lock and resumes from the checkpoint, ingesting nothing twice.
func ExampleLockPolicy() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleLockPolicy")
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
	deposit := func(amount string) {
		if _, err := p.Append(w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: amount})); err != nil {
			panic(err)
		}
	}
	if _, err := p.Append(w.Mint("alice::1220a1", "100")); err != nil {
		panic(err)
	}
	deposit("10")
	deposit("20")
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// Both replicas are configured alike; LockPoll is how often the standby
	// tries the lock (2s by default, shortened here).
	replica := func() (*ingest.Ingester, chan error) {
		ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury},
			Lock: ingest.LockWait, LockPoll: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			panic(err)
		}
		done := make(chan error, 1)
		go func() { done <- ing.Run(ctx) }()
		return ing, done
	}
	// waitFor polls a condition on the stats: what a health check or a
	// dashboard would read.
	waitFor := func(ing *ingest.Ingester, ok func(ingest.Stats) bool) ingest.Stats {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if st := ing.Stats(); ok(st) {
				return st
			}
		}
		panic("condition not reached")
	}
	caughtUp := func(st ingest.Stats) bool { return st.Offset == p.LedgerEnd() }

	a, aDone := replica()
	st := waitFor(a, caughtUp)
	fmt.Printf("a: %s at offset %d, %d transactions\n", st.State, st.Offset, st.Transactions)

	b, bDone := replica()
	waitFor(b, func(st ingest.Stats) bool { return st.State == ingest.StateWaitingForLock })
	// While it waits, the standby reads the stored checkpoint for its lag.
	lag, err := b.LedgerEndLag(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("b: %s, checkpoint %d, lag %d\n", b.Stats().State, b.Stats().Offset, lag)

	// The active replica stops; a deposit arrives while the standby takes over.
	a.Stop()
	fmt.Println("a: Run returned", <-aDone)
	deposit("5")
	st = waitFor(b, caughtUp)
	fmt.Printf("b: %s at offset %d, %d transactions\n", st.State, st.Offset, st.Transactions)

	b.Stop()
	fmt.Println("b: Run returned", <-bDone)
	// Output:
	// a: streaming at offset 3, 2 transactions
	// b: waiting_for_lock, checkpoint 3, lag 0
	// a: Run returned <nil>
	// b: streaming at offset 4, 1 transactions
	// b: Run returned <nil>
}
