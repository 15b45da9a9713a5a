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

// TestRetriedBatchLatencyIncludesFailedAttempt: Stats.LastBatchLatency
// (txhistory_last_batch_latency_seconds, and the batch latency histogram
// OnCommit feeds) is documented as how long the last commit took, retries
// included. A batch whose first attempt ran into statement_timeout (a
// slow database: the case the latency alert is for) and whose retry
// committed at once must report the first attempt's time too, not only
// the retry's.
func TestRetriedBatchLatencyIncludesFailedAttempt(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	world := &ledgertest.TokenWorld{}
	for i := 0; i < 3; i++ {
		if _, err := p.Append(world.Mint("treasury::1", "1")); err != nil {
			t.Fatal(err)
		}
	}
	const slow = 400 * time.Millisecond
	var calls atomic.Int32
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		if calls.Add(1) == 1 {
			// The database is slow: the statement is cancelled (57014),
			// a transient fault, and the batch is retried.
			if _, err := tx.ExecContext(ctx, `SET LOCAL statement_timeout = '400ms'`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `SELECT pg_sleep(5)`)
			return err
		}
		return nil
	})
	// The longest latency OnCommit saw: the retried batch's (the stream
	// may deliver the transactions in more than one batch).
	var observed atomic.Int64
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}, Handler: h, MinBackoff: time.Millisecond,
		OnCommit: func(s ingest.Stats) {
			if d := int64(s.LastBatchLatency); d > observed.Load() {
				observed.Store(d)
			}
		}})
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
	s := ing.Stats()
	if calls.Load() < 2 || s.Errors["database"] == 0 {
		t.Fatalf("the statement timeout was not retried (%d calls, errors %v)", calls.Load(), s.Errors)
	}
	if got := time.Duration(observed.Load()); got < slow {
		t.Errorf("LastBatchLatency at most %v over %d batches, one of which failed an attempt of over %v: the failed attempt is left out",
			got, s.Batches, slow)
	}
}
