package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// TestEmbedRunWithClosedClient: an exchange closes its ledger.Client (a
// deferred Close in the function that started the Ingester in a goroutine,
// or a shutdown that closes the client before it cancels Run's context). No
// retry can reach the participant through a closed client, so Run must
// return an error saying so, as for the other faults no retry can fix,
// rather than retry it as a broken stream until its context ends.
func TestEmbedRunWithClosedClient(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	w := &ledgertest.TokenWorld{}
	if _, err := p.Append(w.Mint("treasury::1", "10")); err != nil {
		t.Fatal(err)
	}
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cps, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	for {
		cp, _, err := cps.Get(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Offset >= p.LedgerEnd() {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before catching up: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}

	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run returned %v, want an error saying the client is closed", err)
		}
		if ledger.IsRetryable(err) {
			t.Errorf("Run's error %v is retryable: a closed client never recovers", err)
		}
		t.Logf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("Run still retrying 10s after the client was closed (errors %v): it only ends with its context", ing.Stats().Errors)
	}

	// A Run started with the client closed already ends the same way.
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ing.Run(ctx2); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run with a closed client returned %v, want an error saying the client is closed", err)
	}
}

// TestEmbedHandlerWithClosedClientUnderSetAside: a Handler that calls a
// participant through a ledger.Client closed by mistake meets
// ErrClientClosed for every transaction alike: a fault of the deployment,
// which under PoisonSetAside stops Run rather than setting every
// transaction aside.
func TestEmbedHandlerWithClosedClientUnderSetAside(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	w := &ledgertest.TokenWorld{}
	for i := 0; i < 2; i++ {
		if _, err := p.Append(w.Mint("treasury::1", "10")); err != nil {
			t.Fatal(err)
		}
	}
	other, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	_ = other.Close()
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}, Poison: ingest.PoisonSetAside, EndOffset: p.LedgerEnd(),
		Handler: ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
			if len(b.Transactions) == 0 {
				return nil
			}
			_, err := other.LedgerEnd(ctx)
			return err
		})})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	runErr := ing.Run(runCtx)
	if !errors.Is(runErr, ledger.ErrClientClosed) {
		t.Errorf("Run returned %v, want the Handler's ErrClientClosed", runErr)
	}
	if aside, err := ing.SetAsideTransactions(ctx); err != nil || len(aside) > 0 {
		t.Errorf("%d transactions set aside (%v) for the Handler's closed client", len(aside), err)
	}
}

// TestEmbedNewRefusesNilClient: New refuses a nil source; the nil
// *ledger.Client of a Dial whose error was ignored is one too, rather than
// an Ingester whose Run panics.
func TestEmbedNewRefusesNilClient(t *testing.T) {
	db := pgtest.NewDB(t)
	var client *ledger.Client
	if _, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}}); err == nil {
		t.Fatal("New accepted a nil *ledger.Client")
	}
}
