package ingest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// The builder remembers what dedup dropped at a batch's first claim
// (skipped) for Stats when a retry finds the batch committed after a lost
// COMMIT reply. The first claim is not always the one that committed: here
// the pipeline's early start of the last batch claims u2 (the batch before,
// which also holds it, rolls back on a serialization failure), is rolled
// back, and starts again once the batch before has committed u2: the
// claim that commits drops u2. Its COMMIT reply is lost; the retry counted
// the batch with the first claim's skipped (0): Stats says 4 new
// transactions and none skipped, for 3 and 1.
func TestLostCommitReplyCountsTheCommittedClaim(t *testing.T) {
	b := scriptedBundle(t, u2Twice())
	lr := &lostReply{}
	faulty := withFaults(t, b, &faultConnector{afterCommit: lr.afterCommit})

	var failed atomic.Bool
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
		for _, x := range batch.Transactions {
			if x.Offset != 2 {
				continue
			}
			if failed.CompareAndSwap(false, true) {
				time.Sleep(500 * time.Millisecond) // the next batch starts meanwhile
				return &pq.Error{Code: "40001", Message: "could not serialize access (injected)"}
			}
			lr.loseNth(2) // this batch commits; the reply to the next batch's COMMIT is lost
		}
		return effectsHandler(ctx, tx, batch)
	})
	ing := newIngester(t, faulty, ingest.Config{Handler: h, MaxBatchSize: 2, EndOffset: 4, Lock: ingest.LockNone})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	require.True(t, failed.Load(), "the fault was injected")
	require.True(t, lr.lost.Load(), "the lost reply was injected")
	var effects []string
	require.NoError(t, b.db.Select(&effects, `SELECT update_id FROM effects ORDER BY ledger_offset`))
	require.Equal(t, []string{"u1", "u2", "u3"}, effects)
	st := ing.Stats()
	require.Equal(t, [2]int64{3, 1}, [2]int64{st.Transactions, st.Skipped}, "Stats (Transactions, Skipped)")
}
