package ingest_test

import (
	"context"
	"database/sql"
	"net"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// As TestLostReplyOnCheckpointBatchAtSameOffset, with an OffsetCheckpoint
// whose record time has a sub-microsecond part (a protobuf Timestamp may
// carry nanoseconds). PostgreSQL rounds a timestamptz to the nearest
// microsecond; committedBefore (sameTimes) truncates. T+700ns is stored as
// T+1µs and compared as T: the batch's own commit is not recognised, and
// its checkpoint effects are written twice.
func TestLostReplyOnCheckpointBatchSubMicrosecond(t *testing.T) {
	s := &idleCheckpointServer{rt: time.Date(2026, 1, 1, 0, 0, 0, 700, time.UTC)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	lapiv2.RegisterUpdateServiceServer(srv, s)
	lapiv2.RegisterStateServiceServer(srv, s)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	b := scriptedBundle(t, nil)
	_, err = b.db.Exec(`CREATE TABLE cp_effects (from_offset bigint, to_offset bigint, record_time timestamptz)`)
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
