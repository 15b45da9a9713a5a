package ingest_test

import (
	"context"
	"database/sql"
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

// idleCheckpointServer answers a tailing GetUpdates with one OffsetCheckpoint
// at the request's begin offset (an idle participant whose record time
// moved), then keeps the stream open.
type idleCheckpointServer struct {
	lapiv2.UnimplementedUpdateServiceServer
	lapiv2.UnimplementedStateServiceServer
	rt time.Time
}

func (s *idleCheckpointServer) GetLedgerEnd(context.Context, *lapiv2.GetLedgerEndRequest) (*lapiv2.GetLedgerEndResponse, error) {
	return &lapiv2.GetLedgerEndResponse{Offset: 5}, nil
}

func (s *idleCheckpointServer) GetUpdates(r *lapiv2.GetUpdatesRequest, st grpc.ServerStreamingServer[lapiv2.GetUpdatesResponse]) error {
	if err := st.Send(&lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_OffsetCheckpoint{OffsetCheckpoint: &lapiv2.OffsetCheckpoint{
		Offset:            r.GetBeginExclusive(),
		SynchronizerTimes: []*lapiv2.SynchronizerTime{{SynchronizerId: "sync::1", RecordTime: timestamppb.New(s.rt)}},
	}}}); err != nil {
		return err
	}
	<-st.Context().Done()
	return nil
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
	s := &idleCheckpointServer{rt: rt}
	lis := serveLedger(t, s)
	b := scriptedBundle(t, nil)
	_, err := b.db.Exec(`CREATE TABLE cp_effects (from_offset bigint, to_offset bigint, record_time timestamptz)`)
	require.NoError(t, err)

	base, err := pq.NewConnector(b.dsn)
	require.NoError(t, err)
	conn := &lostReplyConnector{Connector: base}
	conn.failAt.Store(2) // 1: the checkpoint's Init, 2: the first batch
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	t.Cleanup(func() { db.Close() })
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
		for _, c := range batch.Checkpoints {
			for _, st := range c.SynchronizerTimes {
				if _, err := tx.ExecContext(ctx, `INSERT INTO cp_effects VALUES ($1, $2, $3)`, batch.FromOffset, batch.ToOffset, st.RecordTime); err != nil {
					return err
				}
			}
		}
		return nil
	})
	ing, err := ingest.New(db, dial(t, lis.Addr().String(), nil), ingest.Config{Parties: []string{treasury}, Handler: h, Logger: quietLog,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, StartOffset: 5})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return conn.commits.Load() >= 2 && ing.Stats().Batches >= 1 }, 20*time.Second, 5*time.Millisecond, "the batch was not committed")
	time.Sleep(100 * time.Millisecond) // nothing else to commit: the stream is idle
	ing.Stop()
	require.NoError(t, <-done)
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM cp_effects`))
	require.Equal(t, 1, n, "the checkpoint batch was applied twice")
}
