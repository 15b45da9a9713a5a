package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
)

// TestRV35StopEndsASessionWaitingForTheParticipant: Stop "asks Run to
// commit what it has received and return nil". A session asks the
// participant for its ledger end (and, resuming, for the last ingested
// transaction) before it opens the stream; a participant that does not
// answer (overloaded, or a connection whose packets are dropped, which
// TCP takes many minutes to give up on) held Run there until its context
// ended: nothing was received, yet Stop did not end Run, and ingestd's
// graceful shutdown ran into its timeout and exited 1 (aborted).
func TestRV35StopEndsASessionWaitingForTheParticipant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := rv19DB(t, ctx)
	src := newEndSource(0, true) // LedgerEnd waits for its context
	cfg := rv19Config(ingest.LockWait)
	cfg.Logger = quietLog
	ing, err := ingest.New(db, src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	select {
	case <-src.called: // the session waits for the participant's ledger end
	case err := <-done:
		t.Fatalf("Run returned %v before it asked for the ledger end", err)
	}
	ing.Stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after Stop, while the participant did not answer: %v (want nil: Stop ends it, nothing was received)", err)
	}
}
