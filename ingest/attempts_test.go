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

// MaxAttempts bounds the consecutive database faults on one batch: Run
// fails after that many commits of it, not after MaxAttempts × MaxAttempts
// (the batch's retries inside each of MaxAttempts sessions).
func TestMaxAttemptsCountsDatabaseFaults(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 5)
	var calls atomic.Int64
	failing := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
		calls.Add(1)
		return &pq.Error{Code: "40001", Message: "could not serialize access"}
	})
	ing := newIngester(t, b, ingest.Config{Handler: failing, MaxAttempts: 3, EndOffset: b.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := ing.Run(ctx)
	require.Error(t, err)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, ingest.IsTransientDBError(err), "the give-up error should keep the database fault: %v", err)
	require.ErrorContains(t, err, "giving up")
	require.EqualValues(t, 3, calls.Load(), "commits of the failing batch before Run gave up")
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM effects`))
	require.Zero(t, n, "nothing was committed")
}

// A batch whose COMMIT succeeded on the server while its reply was lost is
// retried; the retry finds the checkpoint already at the batch's end. That
// is the batch's own commit, not another writer's, also under LockNone
// (which has no lock to tell the two apart): Run goes on, and nothing is
// applied twice.
func TestLostCommitReplyIsNotAConflict(t *testing.T) {
	for name, lock := range map[string]ingest.LockPolicy{"LockNone": ingest.LockNone, "LockWait": ingest.LockWait} {
		t.Run(name, func(t *testing.T) {
			b := setup(t)
			appendN(t, b.p, 0, 200)
			lr := &lostReply{}
			lr.failAt.Store(3)
			faulty := withFaults(t, b, &faultConnector{afterCommit: lr.afterCommit})
			ing := newIngester(t, faulty, ingest.Config{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
				MaxBatchSize: 20, Lock: lock, EndOffset: b.p.LedgerEnd()})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, ing.Run(ctx))
			require.True(t, lr.lost.Load(), "the lost reply was not injected")
			requireEffectsOnce(t, b)
		})
	}
}

// failingReader is a Reader whose ReadBatch always meets a serialization
// failure: the first part of every batch fails.
type failingReader struct{ reads atomic.Int64 }

func (h *failingReader) ReadBatch(context.Context, *sqlx.Tx, *ingest.Batch) (any, error) {
	h.reads.Add(1)
	return nil, &pq.Error{Code: "40001", Message: "could not serialize access"}
}

func (h *failingReader) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	return effectsHandler(ctx, tx, b)
}

// A fault in a batch's first part (BEGIN, the dedup claim, ReadBatch) is
// counted from the first attempt, as one in HandleBatch is.
func TestMaxAttemptsCountsFaultsInTheBatchStart(t *testing.T) {
	for _, max := range []int{1, 3} {
		b := setup(t)
		appendN(t, b.p, 0, 5)
		h := &failingReader{}
		ing := newIngester(t, b, ingest.Config{Handler: h, MaxAttempts: max, EndOffset: b.p.LedgerEnd(), MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := ing.Run(ctx)
		cancel()
		require.ErrorContains(t, err, "giving up")
		require.EqualValues(t, max, h.reads.Load(), "attempts of the failing batch with MaxAttempts %d", max)
	}
}
