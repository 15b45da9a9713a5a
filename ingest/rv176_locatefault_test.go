package ingest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// Under PoisonHalt a batch the database refuses for one transaction (an
// error that names none) is handed over one transaction at a time, in a
// transaction rolled back, to name it. PostgreSQL restarting during that
// pass (every session ended) is a fault, not the end of locating: Run
// stopped with the batch's error naming no update id ("handler failed on
// batch (offsets 0..6): pq: division by zero"), because the retry counted
// the interrupted pass as one that had found every transaction fine
// alone. It must retry and name the transaction.
func TestRV176RestartWhileLocatingStillNamesTheTransaction(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	world := &ledgertest.TokenWorld{}
	for range 6 {
		_, err := p.Append(world.Mint("treasury::1", "1"))
		require.NoError(t, err)
	}
	txs := p.Transactions()
	bad := txs[len(txs)-1]
	var rejected, ended atomic.Bool
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		if rejected.Load() && ended.CompareAndSwap(false, true) {
			// The first call after the rejection: the pass that locates
			// it. The server ends every session, this one last.
			_, err := tx.ExecContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND backend_type = 'client backend'`)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `SELECT 1`)
			return err
		}
		for _, t := range b.Transactions {
			if t.UpdateID == bad.UpdateID {
				rejected.Store(true)
				// The database refuses it, naming no transaction.
				_, err := tx.ExecContext(ctx, `SELECT 1/0`)
				return err
			}
		}
		return nil
	})
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}, Handler: h, EndOffset: p.LedgerEnd(),
		MaxAttempts: 10, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = ing.Run(rctx)
	require.NoError(t, rctx.Err())
	require.True(t, ended.Load(), "the sessions were not ended while locating")
	t.Logf("Run: %v", err)
	require.ErrorContains(t, err, "division by zero")
	require.Contains(t, err.Error(), bad.UpdateID, "the error does not name the update id")
	require.Contains(t, err.Error(), fmt.Sprintf("at offset %d", bad.Offset))
	require.Less(t, ing.Stats().Offset, bad.Offset)
}
