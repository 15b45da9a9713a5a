package ingest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
)

// TestHandlerDatabaseFaultCountsAsDatabase: PostgreSQL dropping the
// connection while a handler writes (a restart mid-batch, or a full disk,
// SQLSTATE 53100) is a database fault: the batch is retried and
// ingestion goes on. It must count as kind "database", not "handler":
// docs/OPERATIONS.md opens a ticket on any increase of
// txhistory_errors_total{kind="handler"} (a handler or decode error that
// halts ingestion), which a PostgreSQL restart would then raise.
func TestHandlerDatabaseFaultCountsAsDatabase(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	world := &ledgertest.TokenWorld{}
	for i := 0; i < 5; i++ {
		if _, err := p.Append(world.Mint("treasury::1", "1")); err != nil {
			t.Fatal(err)
		}
	}
	var calls atomic.Int32
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		if calls.Add(1) == 1 {
			// The server ends this session, as a restart would.
			_, err := tx.ExecContext(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			return err
		}
		return nil
	})
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}, Handler: h, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(30 * time.Second); ing.Stats().Offset < p.LedgerEnd(); {
		if time.Now().After(deadline) {
			t.Fatalf("not ingested: %+v", ing.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if calls.Load() < 2 {
		t.Fatalf("the handler's fault was not retried (%d calls)", calls.Load())
	}
	s := ing.Stats()
	if s.Errors["handler"] != 0 || s.Errors["database"] == 0 {
		t.Errorf("a connection PostgreSQL dropped under the handler counted as %v; want database, not handler", s.Errors)
	}
}
