package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// The ingestion daemon: Run tails the participant in a goroutine of its own
// until the process is told to stop. On SIGTERM the daemon calls Stop, and
// Run commits what it has received and returns nil; the next start resumes
// from the checkpoint it left. Here the signal is sent on the channel by
// hand, once ingestion has caught up, so that what is printed does not
// depend on timing; a real daemon gives the channel to signal.Notify.
func ExampleIngester_Stop() {
	ctx := context.Background()
	db, drop, err := pgtest.Open(ctx, "ExampleIngester_Stop")
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
	deposit := func(amount string) *ledger.Transaction {
		return w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: amount, Reason: "acct-42"})
	}
	if _, err := p.Append(w.Mint("alice::1220a1", "100"), deposit("10"), deposit("20")); err != nil {
		panic(err)
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	store, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		panic(err)
	}
	printCheckpoint := func(when string) {
		cp, found, err := store.Get(ctx, db)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: found %v, offset %d, last update %q\n", when, found, cp.Offset, cp.UpdateID)
	}
	printCheckpoint("before Run")

	// OnCommit tells the example when the checkpoint has reached the ledger
	// end; a daemon would export the stats as metrics instead.
	caughtUp := make(chan struct{})
	var once sync.Once
	ing, err := ingest.New(db, client, ingest.Config{
		Parties: []string{treasury}, // no EndOffset: tail until stopped
		Logger:  slog.New(slog.DiscardHandler),
		OnCommit: func(st ingest.Stats) {
			if st.Offset >= p.LedgerEnd() {
				once.Do(func() { close(caughtUp) })
			}
		},
	})
	if err != nil {
		panic(err)
	}
	sig := make(chan os.Signal, 1) // signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-sig
		ing.Stop() // does not wait: Run's return says when it is done
	}()
	runErr := make(chan error, 1)
	go func() { runErr <- ing.Run(ctx) }()

	<-caughtUp
	sig <- syscall.SIGTERM
	fmt.Println("Run returned:", <-runErr, "state:", ing.Stats().State)
	printCheckpoint("after Stop")

	// The next start (here a bounded catch-up) resumes after the
	// checkpoint: only the deposit made while the daemon was down is new.
	if _, err := p.Append(deposit("5")); err != nil {
		panic(err)
	}
	next, err := ingest.New(db, client, ingest.Config{
		Parties: []string{treasury}, EndOffset: p.LedgerEnd(), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	if err := next.Run(ctx); err != nil {
		panic(err)
	}
	fmt.Println("restarted: new transactions", next.Stats().Transactions)
	printCheckpoint("after restart")
	// Output:
	// before Run: found false, offset 0, last update ""
	// Run returned: <nil> state: stopped
	// after Stop: found true, offset 3, last update "upd-3"
	// restarted: new transactions 1
	// after restart: found true, offset 4, last update "upd-4"
}
