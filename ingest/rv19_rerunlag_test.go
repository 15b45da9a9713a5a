package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/schema"
)

// TestRV19RerunStandbyLedgerEndLag: LedgerEndLag measures from the stored
// checkpoint "until Run has loaded it (before Run, and while a standby
// waits for the lock)". An Ingester that ran once (it loaded the
// checkpoint then), was stopped, and runs again as a standby while another
// ingester has moved the checkpoint, measures from the offset its first
// Run loaded: the standby's ledger_end_lag shows the other's progress as
// its own lag.
func TestRV19RerunStandbyLedgerEndLag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := rv19DB(t, ctx)
	const end = 100
	ing, stop := startHolding(t, ctx, db, newEndSource(end, false), rv19Config(ingest.LockWait))
	stop() // it loaded the checkpoint at 0

	// Another ingester ingests up to the ledger end, and holds the lock.
	cps, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cps.AdvanceTx(ctx, tx, 0, checkpoint.Checkpoint{Offset: end}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	_, stopActive := startHolding(t, ctx, db, newEndSource(end, false), rv19Config(ingest.LockWait))
	defer stopActive()

	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	defer func() { rcancel(); <-done }()
	waitState(t, ing, ingest.StateWaitingForLock)
	if lag, err := ing.LedgerEndLag(ctx); err != nil || lag != 0 {
		t.Fatalf("standby after a first Run: LedgerEndLag = %d, %v; want 0 (the stored checkpoint is at the ledger end %d)", lag, err, end)
	}
}

func waitState(t *testing.T, ing *ingest.Ingester, want ingest.State) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ing.Stats().State != want; {
		if time.Now().After(deadline) {
			t.Fatalf("state %s, waiting for %s", ing.Stats().State, want)
		}
		time.Sleep(5 * time.Millisecond) // polling a state, not ordering anything
	}
}
