package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
)

// TestEmbedStandbyLedgerEndLag: LedgerEndLag "returns how many offsets the
// checkpoint is behind" the ledger end. A standby Ingester (waiting for the
// active one's lock, as docs/OPERATIONS.md describes) and one not yet run
// have not loaded the checkpoint; they must still measure from the stored
// checkpoint, not from offset 0, or the standby's ledger_end_lag metric
// shows the whole ledger and the documented lag alert pages for it.
func TestEmbedStandbyLedgerEndLag(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	world := &ledgertest.TokenWorld{}
	for i := 0; i < 50; i++ {
		if _, err := p.Append(world.Mint("treasury::1", "1")); err != nil {
			t.Fatal(err)
		}
	}
	cfg := ingest.Config{Parties: []string{"treasury::1"}, LockPoll: 20 * time.Millisecond}
	active, err := ingest.New(db, client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	adone := make(chan error, 1)
	go func() { adone <- active.Run(actx) }()
	defer func() { acancel(); <-adone }()
	cps, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		cp, _, err := cps.Get(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Offset >= p.LedgerEnd() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up: %d", cp.Offset)
		}
		time.Sleep(5 * time.Millisecond)
	}

	standby, err := ingest.New(db, client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if lag, err := standby.LedgerEndLag(ctx); err != nil || lag != 0 {
		t.Errorf("before Run: LedgerEndLag = %d, %v; want 0 (the stored checkpoint is at the ledger end %d)", lag, err, p.LedgerEnd())
	}
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan error, 1)
	go func() { sdone <- standby.Run(sctx) }()
	defer func() { scancel(); <-sdone }()
	for deadline := time.Now().Add(30 * time.Second); standby.Stats().State != ingest.StateWaitingForLock; {
		if time.Now().After(deadline) {
			t.Fatalf("standby state %s", standby.Stats().State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if lag, err := standby.LedgerEndLag(ctx); err != nil || lag != 0 {
		t.Errorf("standby: LedgerEndLag = %d, %v; want 0 (the stored checkpoint is at the ledger end %d)", lag, err, p.LedgerEnd())
	}
}
