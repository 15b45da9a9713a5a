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
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// checkpointServer answers a tailing GetUpdates with OffsetCheckpoints at
// the request's begin offset (an idle participant whose record time moved),
// one per record time, a while apart (so that each is a batch of its own),
// then keeps the stream open.
type checkpointServer struct {
	lapiv2.UnimplementedUpdateServiceServer
	lapiv2.UnimplementedStateServiceServer
	rts []time.Time
}

func (s *checkpointServer) GetLedgerEnd(context.Context, *lapiv2.GetLedgerEndRequest) (*lapiv2.GetLedgerEndResponse, error) {
	return &lapiv2.GetLedgerEndResponse{Offset: 5}, nil
}

func (s *checkpointServer) GetUpdates(r *lapiv2.GetUpdatesRequest, st grpc.ServerStreamingServer[lapiv2.GetUpdatesResponse]) error {
	for _, rt := range s.rts {
		if err := st.Send(&lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_OffsetCheckpoint{OffsetCheckpoint: &lapiv2.OffsetCheckpoint{
			Offset:            r.GetBeginExclusive(),
			SynchronizerTimes: []*lapiv2.SynchronizerTime{{SynchronizerId: "sync::1", RecordTime: timestamppb.New(rt)}},
		}}}); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond)
	}
	<-st.Context().Done()
	return nil
}

// cpEffectsHandler writes a row into cp_effects for each synchronizer time
// of each checkpoint of a batch, after asking fail (if set) whether to fail
// the batch instead.
func cpEffectsHandler(fail func(rt time.Time) error) ingest.Handler {
	return ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
		for _, c := range batch.Checkpoints {
			for _, st := range c.SynchronizerTimes {
				if fail != nil {
					if err := fail(st.RecordTime); err != nil {
						return err
					}
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO cp_effects VALUES ($1, $2, $3)`, batch.FromOffset, batch.ToOffset, st.RecordTime); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// A batch whose COMMIT reached PostgreSQL while its reply was lost is
// retried; the retry must recognise the batch's own commit instead of
// applying it again. For a batch of an OffsetCheckpoint at the committed
// offset (an idle participant: the offset did not move, the record time
// did) the checkpoint's compare-and-set on the offset cannot tell: the
// retry commits the batch a second time, and the Handler's effects for its
// checkpoints are written twice. The record time is compared as
// PostgreSQL stores it, rounded to the microsecond, also for one with
// nanoseconds (rounded up: truncating did not match what was stored).
func TestLostReplyOnCheckpointBatchAtSameOffset(t *testing.T) {
	for name, nanos := range map[string]int{"whole microseconds": 0, "700 ns": 700} {
		t.Run(name, func(t *testing.T) { lostReplyOnCheckpointBatch(t, time.Date(2026, 1, 1, 0, 0, 0, nanos, time.UTC)) })
	}
}

func lostReplyOnCheckpointBatch(t *testing.T, rt time.Time) {
	s := &checkpointServer{rts: []time.Time{rt}}
	lis := serveLedger(t, s)
	b := scriptedBundle(t, nil)
	_, err := b.db.Exec(`CREATE TABLE cp_effects (from_offset bigint, to_offset bigint, record_time timestamptz)`)
	require.NoError(t, err)

	lr := &lostReply{}
	lr.failAt.Store(2) // 1: the checkpoint's Init, 2: the first batch
	faulty := withFaults(t, b, &faultConnector{afterCommit: lr.afterCommit})
	faulty.client = dial(t, lis.Addr().String(), nil)
	ing := newIngester(t, faulty, ingest.Config{Handler: cpEffectsHandler(nil),
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, StartOffset: 5})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return lr.commits.Load() >= 2 && ing.Stats().Batches >= 1 }, 20*time.Second, 5*time.Millisecond, "the batch was not committed")
	time.Sleep(100 * time.Millisecond) // nothing else to commit: the stream is idle
	ing.Stop()
	require.NoError(t, <-done)
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM cp_effects`))
	require.Equal(t, 1, n, "the checkpoint batch was applied twice")
}

// Two checkpoint-only batches at the committed offset: the first raises the
// record time to T+600ns (stored rounded, T+1µs; remembered as T+600ns),
// the second to T+1200ns and fails once, before its COMMIT, with a
// serialization failure. On its retry committedBefore compares the stored
// T+1µs with the batch's T+1200ns truncated (T+1µs): equal, so it takes the
// batch for committed with its reply lost and skips it. Its checkpoint's
// effects are never written, though it never committed.
func TestCheckpointBatchThatDidNotCommitIsNotSkipped(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &checkpointServer{rts: []time.Time{t0.Add(600 * time.Nanosecond), t0.Add(1200 * time.Nanosecond)}}
	lis := serveLedger(t, s)
	b := scriptedBundle(t, nil)
	_, err := b.db.Exec(`CREATE TABLE cp_effects (from_offset bigint, to_offset bigint, record_time timestamptz)`)
	require.NoError(t, err)

	var failed atomic.Bool
	h := cpEffectsHandler(func(rt time.Time) error {
		if rt.Equal(s.rts[1]) && failed.CompareAndSwap(false, true) {
			return &pq.Error{Code: "40001", Message: "could not serialize access (injected)"}
		}
		return nil
	})
	ing, err := ingest.New(b.db, dial(t, lis.Addr().String(), nil), ingest.Config{Parties: []string{treasury}, Handler: h, Logger: quietLog,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, StartOffset: 5})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return failed.Load() && ing.Stats().Batches >= 2 }, 20*time.Second, 5*time.Millisecond, "the batches were not committed")
	time.Sleep(100 * time.Millisecond)
	ing.Stop()
	require.NoError(t, <-done)
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM cp_effects`))
	require.Equal(t, 2, n, "the second checkpoint batch was skipped as committed though it was not")
}
