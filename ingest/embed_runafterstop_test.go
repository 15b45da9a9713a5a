package ingest_test

import (
	"context"
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

// TestEmbedRunAfterStop: an exchange stops its Ingester (Stop, Run
// returns nil) and later runs it again. The second Run must ingest, not
// return nil at once because of the earlier Stop.
func TestEmbedRunAfterStop(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}})
	if err != nil {
		t.Fatal(err)
	}
	cps, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	caughtUp := func(done <-chan error) {
		t.Helper()
		end := p.LedgerEnd()
		for deadline := time.Now().Add(30 * time.Second); ; {
			cp, _, err := cps.Get(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if cp.Offset >= end {
				return
			}
			select {
			case err := <-done:
				t.Fatalf("Run returned %v with the checkpoint at %d, the ledger end at %d", err, cp.Offset, end)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("checkpoint %d, ledger end %d", cp.Offset, end)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	world := &ledgertest.TokenWorld{}
	for round := 1; round <= 2; round++ {
		if _, err := p.Append(world.Mint("treasury::1", "1")); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- ing.Run(ctx) }()
		caughtUp(done)
		ing.Stop()
		if err := <-done; err != nil {
			t.Fatalf("round %d: Run after Stop: %v", round, err)
		}
	}
}

// embedRig is what an embedding exchange sets up: a migrated database, a
// fake participant sending checkpoints every 10 ms, and a client of it;
// everything is closed when the test ends.
func embedRig(t *testing.T) (context.Context, *sqlx.DB, *ledgertest.Participant, *ledger.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	db := pgtest.NewDB(t)
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return ctx, db, p, client
}
