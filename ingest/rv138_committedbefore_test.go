package ingest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// A batch retried after a transient fault meets the checkpoint moved, and
// the Ingester reads the stored checkpoint to tell whether its attempt
// before committed (committedBefore). Meanwhile the application lowered
// the pool's limit to the connection the lock holds (as in
// TestRV127PoolLimitLoweredDuringRun): that read waited for a connection
// for ever, no error. Run must fail with ErrPoolExhausted, as the batch's
// own start does.
func TestRV138CommittedBeforeReadFailsWhenTheLockHoldsThePool(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)
	db.SetMaxOpenConns(2)

	var armed atomic.Bool
	var calls atomic.Int32
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		if !armed.Load() {
			return nil
		}
		switch calls.Add(1) {
		case 1:
			return &pq.Error{Code: "40001", Message: "could not serialize access"} // retried
		case 2:
			// The retry: the limit lowered, the checkpoint moved.
			db.SetMaxOpenConns(1)
			_, err := tx.ExecContext(ctx, `UPDATE txhistory.checkpoint SET ledger_offset = ledger_offset + 1`)
			return err
		}
		return nil
	})
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"}, Handler: h,
		LockCheck: time.Second, MinBackoff: 10 * time.Millisecond, Logger: quietLog})
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 10*time.Second, 10*time.Millisecond)
	armed.Store(true)
	_, err = p.Append(w.Mint("hot::1", "11"))
	require.NoError(t, err)
	select {
	case err := <-done:
		require.ErrorIs(t, err, ingest.ErrPoolExhausted)
	case <-time.After(5 * time.Second):
		t.Fatalf("Run still waits 5s after the lock came to hold every connection the pool allows (returned %v at its context's end)", <-done)
	}
	require.EqualValues(t, 2, calls.Load())
}
