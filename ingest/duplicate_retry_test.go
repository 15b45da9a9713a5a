package ingest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// scriptedDB starts a scriptedServer for txs and returns a migrated
// database with the effects table and a client of the server.
func scriptedBundle(t *testing.T, txs []*lapiv2.Transaction) *testBundle {
	t.Helper()
	s := &scriptedServer{txs: txs}
	lis := serveLedger(t, s)
	db, dsn := newEffectsDB(t)
	return &testBundle{db: db, dsn: dsn, client: dial(t, lis.Addr().String(), nil)}
}

// u2Twice is a history of offsets 1..4 that sends update id u2 twice, at
// offsets 2 and 4: u1, u2, u3, u2.
func u2Twice() []*lapiv2.Transaction {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var txs []*lapiv2.Transaction
	for i, id := range []string{"u1", "u2", "u3", "u2"} {
		tx := simpleTx(treasury, i+1)
		tx.Offset, tx.UpdateID, tx.SynchronizerID = int64(i+1), id, "sync::1"
		tx.RecordTime = t0.Add(time.Duration(i) * time.Second)
		txs = append(txs, tx.Proto())
	}
	return txs
}

// A participant sends one update id twice, in two consecutive batches, and
// the first of the two batches fails once with a transient database fault
// (a serialization failure). The pipeline has started the second batch
// while the first was being written: its dedup claim waited for the first
// batch's row and took the id once the first batch rolled back. The retry
// of the first batch then claims the same id and waits for the second
// batch's open transaction, which the Run goroutine holds open while it
// waits for that very retry: ingestion hangs for ever (no error, no
// progress, Stop does not help), where it should retry the batch and let
// dedup drop the repeated id.
func TestDuplicateIDAcrossPipelinedBatchesWithRetry(t *testing.T) {
	b := scriptedBundle(t, u2Twice())

	var failed atomic.Bool
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
		if batch.FromOffset == 0 && failed.CompareAndSwap(false, true) {
			time.Sleep(500 * time.Millisecond) // the next batch starts meanwhile
			return &pq.Error{Code: "40001", Message: "could not serialize access (injected)"}
		}
		return effectsHandler(ctx, tx, batch)
	})
	ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 2, EndOffset: 4, Lock: ingest.LockNone})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	require.True(t, failed.Load(), "the fault was injected")
	var effects []string
	require.NoError(t, b.db.Select(&effects, `SELECT update_id FROM effects ORDER BY ledger_offset`))
	require.Equal(t, []string{"u1", "u2", "u3"}, effects)
}
