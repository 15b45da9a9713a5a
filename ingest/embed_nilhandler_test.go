package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// TestEmbedNewRefusesNilHandlerInChain: a nil Handler in ingest.Handlers
// (a handler variable left unset, say a reconciler whose constructor's
// error was ignored) is a configuration error New reports, not a panic in
// every batch. Run would take each panic for a poison transaction: halt
// naming an innocent transaction, or, under PoisonSetAside, set every
// transaction aside (claimed by dedup, its effects never applied).
func TestEmbedNewRefusesNilHandlerInChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	p, err := ledgertest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	world := &ledgertest.TokenWorld{}
	if _, err := p.Append(world.Mint("treasury::1", "1"), world.Mint("treasury::1", "2")); err != nil {
		t.Fatal(err)
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ok := ingest.HandlerFunc(func(context.Context, *sqlx.Tx, *ingest.Batch) error { return nil })
	var unset ingest.Handler
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}, Handler: ingest.Handlers(ok, unset),
		Poison: ingest.PoisonSetAside, EndOffset: p.LedgerEnd()})
	if err == nil {
		runErr := ing.Run(ctx)
		t.Fatalf("New accepted a nil handler in the chain; Run returned %v having set aside %d of 2 transactions", runErr, ing.Stats().SetAside)
	}
}
