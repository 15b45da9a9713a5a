package ingest_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Stop during a catch-up, with updates always waiting because the database
// is slower than the stream, commits what was received and returns nil
// without ingesting the rest of the backlog; the next Run resumes there.
func TestStopDuringCatchUp(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 3000)
	var batches atomic.Int64
	slow := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
		batches.Add(1)
		time.Sleep(20 * time.Millisecond)
		return effectsHandler(ctx, tx, bt)
	})
	ing := newIngester(t, b, ingest.Config{Handler: slow, MaxBatchSize: 10})
	done := make(chan error, 1)
	go func() { done <- ing.Run(context.Background()) }()
	require.Eventually(t, func() bool { return batches.Load() >= 3 }, 30*time.Second, time.Millisecond)
	ing.Stop()
	require.NoError(t, <-done)
	stopped := ing.Stats().Offset
	require.Less(t, stopped, b.p.LedgerEnd(), "Run went on through the backlog after Stop")
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM effects`))
	require.Positive(t, n)

	runToEnd(t, b, ingest.Config{})
	requireEffectsOnce(t, b)
}

// requireEffectsOnce checks that every treasury transaction was applied
// exactly once.
func requireEffectsOnce(t *testing.T, b *testBundle) {
	t.Helper()
	var rows, distinct int
	require.NoError(t, b.db.QueryRow(`SELECT count(*), count(DISTINCT update_id) FROM effects`).Scan(&rows, &distinct))
	require.Equal(t, len(treasuryTxs(b.p)), distinct)
	require.Equal(t, distinct, rows, "a transaction was applied twice")
}

// okEndingServer ends every GetUpdates stream with status OK after one
// OffsetCheckpoint, as a participant or a proxy closing a stream cleanly.
type okEndingServer struct {
	lapiv2.UnimplementedUpdateServiceServer
	calls atomic.Int64
}

func (s *okEndingServer) GetUpdates(r *lapiv2.GetUpdatesRequest, st grpc.ServerStreamingServer[lapiv2.GetUpdatesResponse]) error {
	n := s.calls.Add(1)
	if err := st.Send(&lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_OffsetCheckpoint{OffsetCheckpoint: &lapiv2.OffsetCheckpoint{
		Offset:            r.GetBeginExclusive() + 1,
		SynchronizerTimes: []*lapiv2.SynchronizerTime{{SynchronizerId: "sync::1", RecordTime: timestamppb.New(time.Unix(1000+n, 0))}},
	}}}); err != nil {
		return err
	}
	return nil // the client reads io.EOF
}

// A tailing stream that the participant ends with status OK is a fault to
// retry from the checkpoint, not the end of ingestion: Run goes on until
// its context ends, opening a new stream each time, and keeps what each
// stream's checkpoint advanced.
func TestTailingStreamEndedWithOK(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	es := &okEndingServer{}
	lapiv2.RegisterUpdateServiceServer(srv, es)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	db, _ := newEffectsDB(t)
	ing, err := ingest.New(db, dial(t, lis.Addr().String(), nil), ingest.Config{
		Parties: []string{treasury}, Logger: quietLog, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return es.calls.Load() >= 3 }, 30*time.Second, time.Millisecond)
	cancel()
	err = <-done
	require.ErrorIs(t, err, context.Canceled, "a tailing Run ended by itself")
	st := ing.Stats()
	require.Positive(t, st.Errors["stream"], "the ended streams are not counted as stream faults: %v", st.Errors)
	require.Positive(t, st.Offset, "the streams' checkpoints were not kept")
}

// ErrCheckpointBeyondLedgerEnd is returned (wrapped) once the checkpoint
// has stayed beyond the ledger end for MaxAttempts polls.
func TestCheckpointBeyondLedgerEndGivesUp(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 5)
	ing := newIngester(t, b, ingest.Config{StartOffset: b.p.LedgerEnd() + 100, MaxAttempts: 2, LedgerEndPoll: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := ing.Run(ctx)
	require.ErrorIs(t, err, ingest.ErrCheckpointBeyondLedgerEnd)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
}

// readRejecter is a Reader whose ReadBatch rejects any batch holding one
// given transaction, while HandleBatch applies every transaction.
type readRejecter struct {
	bad      string
	rejected atomic.Int64 // ReadBatch calls that rejected a batch
}

func (h *readRejecter) ReadBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) (any, error) {
	for _, t := range b.Transactions {
		if t.UpdateID == h.bad {
			h.rejected.Add(1)
			return nil, errors.New("cannot read for update " + t.UpdateID)
		}
	}
	return nil, nil
}

func (h *readRejecter) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	return effectsHandler(ctx, tx, b)
}

// Under PoisonSetAside a batch that ReadBatch fails is handled one
// transaction at a time, without ReadBatch (as Reader documents), instead of
// stopping Run.
func TestReadBatchErrorUnderSetAside(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	h := &readRejecter{bad: treasuryTxs(b.p)[7].UpdateID}
	ing := newIngester(t, b, ingest.Config{Handler: h, Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, ing.Run(context.Background()))
	require.Positive(t, h.rejected.Load(), "ReadBatch never rejected a batch: nothing was tested")
	requireEffectsOnce(t, b)
	aside, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	require.Empty(t, aside, "HandleBatch accepted every transaction")
	require.Equal(t, int64(len(treasuryTxs(b.p))), ing.Stats().Transactions, "every transaction counted once")
}

// cutStream ends the first GetUpdates stream with status OK (io.EOF to the
// client) after a number of messages, as a proxy closing it cleanly.
func cutStream(after int64, cuts *atomic.Int64) grpc.DialOption {
	return grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		if cuts.Add(1) != 1 {
			return s, nil
		}
		return &cuttingStream{ClientStream: s, left: after}, nil
	})
}

type cuttingStream struct {
	grpc.ClientStream
	left int64
}

func (s *cuttingStream) RecvMsg(m any) error {
	if s.left == 0 {
		return io.EOF
	}
	s.left--
	return s.ClientStream.RecvMsg(m)
}

// A bounded stream (EndOffset) that ends with status OK before the end
// offset proves only that nothing came after what it delivered if it
// delivered nothing: one cut short after some updates is opened again
// from the checkpoint, instead of the checkpoint jumping to EndOffset over
// the rest.
func TestBoundedStreamCutShortIsResumed(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 300)
	var streams atomic.Int64
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: b.p.Addr(), Insecure: true},
		DialOptions: []grpc.DialOption{cutStream(40, &streams)}})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	b.client = c
	runToEnd(t, b, ingest.Config{MaxBatchSize: 10})
	require.GreaterOrEqual(t, streams.Load(), int64(2), "the stream was not opened again")
	requireEffectsOnce(t, b)
}

// Stop while the database is unreachable before the checkpoint was read
// (nothing received, nothing to commit) returns nil at once, as Stop does
// while the stream is retried; it does not wait for the database.
func TestStopWhileTheCheckpointCannotBeRead(t *testing.T) {
	b := setup(t)
	gone, err := sqlx.Open("postgres", "postgres://u@127.0.0.1:1/x?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(func() { _ = gone.Close() })
	var logs syncbuf.Buffer
	ing, err := ingest.New(gone, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Lock: ingest.LockNone,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "database unavailable, retrying") },
		10*time.Second, 5*time.Millisecond, "the checkpoint read never failed:\n%s", &logs)
	ing.Stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run kept retrying the checkpoint read after Stop")
	}
}
