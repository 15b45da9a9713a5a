package ingest_test

// Fault tests: each fault an operator may meet at 3 a.m., against real
// PostgreSQL and the fake participant, ending with the database exactly as
// an undisturbed run leaves it.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// privateBundle is setup on a PostgreSQL server of the test's own, which
// the test may stop and start.
func privateBundle(t *testing.T, opts ...ledgertest.Option) (*testBundle, *pgtest.Server) {
	t.Helper()
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	admin, err := sqlx.Open("postgres", srv.DSN("postgres"))
	require.NoError(t, err)
	_, err = admin.Exec(`CREATE DATABASE faults`)
	admin.Close()
	require.NoError(t, err)
	dsn := srv.DSN("faults")
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, schema.Migrate(context.Background(), db))
	require.NoError(t, createEffects(db))
	p, err := ledgertest.New(opts...)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return &testBundle{p: p, db: db, dsn: dsn, client: dial(t, p.Addr(), nil)}, srv
}

func requireSameState(t *testing.T, want, got *testBundle) {
	t.Helper()
	w, g := readState(t, want.db), readState(t, got.db)
	require.Equal(t, w.Effects, g.Effects)
	require.Equal(t, w.Ingested, g.Ingested)
	require.Equal(t, w.Checkpoint, g.Checkpoint)
	requireAllOnce(t, got)
}

// PostgreSQL is shut down (pg_ctl stop -m fast: sessions cut, open
// transactions rolled back) in the middle of a batch, twice, and started
// again a moment later. The batch is retried from scratch; the database
// ends exactly as after an undisturbed run.
func TestPostgresRestartedMidBatch(t *testing.T) {
	clean := setup(t)
	faulty, srv := privateBundle(t)
	for _, b := range []*testBundle{clean, faulty} {
		appendN(t, b.p, 0, 400)
	}
	runToEnd(t, clean, ingest.Config{MaxBatchSize: 25})

	var (
		calls    atomic.Int32
		restarts sync.WaitGroup
		stops    atomic.Int32
	)
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		if err := effectsHandler(ctx, tx, b); err != nil {
			return err
		}
		if n := calls.Add(1); n == 3 || n == 8 {
			// This batch's effects are written but not committed: stop the
			// server under it, and bring it back a little later.
			require.NoError(t, srv.Stop(context.Background()))
			stops.Add(1)
			restarts.Go(func() {
				time.Sleep(300 * time.Millisecond)
				if err := srv.Start(context.Background()); err != nil {
					t.Errorf("restart PostgreSQL: %v", err)
				}
			})
		}
		return nil
	})
	ing := newIngester(t, faulty, ingest.Config{MaxBatchSize: 25, Handler: h, EndOffset: faulty.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	restarts.Wait()

	require.Equal(t, int32(2), stops.Load())
	require.GreaterOrEqual(t, ing.Stats().Errors["database"], int64(2), "the lost connections were retried")
	requireSameState(t, clean, faulty)
}

// The participant is not there when the ingester starts (nothing listens on
// its address): the ingester keeps trying, and once the participant is up
// it ingests everything.
func TestParticipantUnavailableAtStart(t *testing.T) {
	b := setup(t)
	b.p.Close() // setup's participant is not used
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	b.client = dial(t, addr, nil)

	ing := newIngester(t, b, ingest.Config{EndOffset: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Errors["stream"] >= 3 }, 20*time.Second, 5*time.Millisecond,
		"connection refused is retried")
	require.Zero(t, ing.Stats().Batches)

	// Now the participant comes up on that address with its history.
	lis, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	b.p, err = ledgertest.New(ledgertest.WithListener(lis))
	require.NoError(t, err)
	t.Cleanup(b.p.Close)
	appendN(t, b.p, 0, 100)
	require.Equal(t, int64(100), b.p.LedgerEnd())

	require.NoError(t, <-done)
	requireAllOnce(t, b)
	require.Equal(t, int64(100), readState(t, b.db).Checkpoint.Offset)
}

// A tailing stream goes silent (no transaction, no OffsetCheckpoint) while
// the ledger moves on. After StallTimeout the ingester gives up on it and
// opens a new one, which delivers. The fake participant here un-stalls only
// for a new GetUpdates call, so without the reconnect nothing would arrive.
func TestStalledStreamReconnects(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	appendN(t, b.p, 0, 50)
	ing := newIngester(t, b, ingest.Config{StallTimeout: 300 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- ing.Run(context.Background()) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)

	var stalled atomic.Bool
	b.p.Intercept("GetUpdates", func(context.Context, proto.Message) error {
		if stalled.CompareAndSwap(true, false) {
			b.p.StallStreams(false)
		}
		return nil
	})
	// Counted before the stall: on a busy machine the stall can be
	// declared before this goroutine runs again.
	streamErrors := ing.Stats().Errors["stream"]
	b.p.StallStreams(true)
	stalled.Store(true)
	appendN(t, b.p, 50, 50)

	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)
	require.False(t, stalled.Load(), "a new stream was opened")
	require.Greater(t, ing.Stats().Errors["stream"], streamErrors, "the stall was reported")
	ing.Stop()
	require.NoError(t, <-done)
	requireAllOnce(t, b)
}

// countRecv counts the messages the client has taken off GetUpdates
// streams: every update the ingester has decoded, whether it waits in its
// buffer, sits in a batch, or is committed.
func countRecv(n *atomic.Int64) grpc.DialOption {
	return grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &countingStream{ClientStream: s, n: n}, nil
	})
}

type countingStream struct {
	grpc.ClientStream
	n *atomic.Int64
}

func (s *countingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		s.n.Add(1)
	}
	return err
}

// A handler far slower than the stream: backpressure holds the decoded
// updates to the StreamBuffer, plus the one the reader holds and the next
// batch, started while the handler works on this one; the participant
// cannot run ahead, and the heap does not grow with the backlog.
func TestSlowHandlerBoundedMemory(t *testing.T) {
	const (
		total       = 3000
		buffer      = 8
		batchSize   = 10
		slowBatches = 60
	)
	b := setup(t)
	payload := strings.Repeat("0123456789abcdef", 512) // 8 KiB per transaction
	txs := make([]*ledger.Transaction, 0, total)
	for i := range total {
		tx := simpleTx(treasury, i)
		c := tx.Events[0].(*ledger.CreatedEvent)
		c.CreateArguments = ledger.Record(nil, ledger.F("owner", ledger.Party(treasury)), ledger.F("blob", ledger.Text(payload)))
		txs = append(txs, tx)
	}
	_, err := b.p.Append(txs...)
	require.NoError(t, err)
	var received atomic.Int64
	c, err := ledger.Dial(ledger.Config{
		LedgerAPI:   ledger.Endpoint{Target: b.p.Addr(), Insecure: true},
		DialOptions: []grpc.DialOption{countRecv(&received)},
	})
	require.NoError(t, err)
	defer c.Close()
	b.client = c

	var ing *ingest.Ingester
	var (
		batches     int
		maxInFlight int64
		maxHeap     uint64
		base        runtime.MemStats
	)
	runtime.GC()
	runtime.ReadMemStats(&base)
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
		batches++
		if batches <= slowBatches {
			time.Sleep(10 * time.Millisecond)
			s := ing.Stats()
			inFlight := received.Load() - s.Transactions - s.Checkpoints - int64(len(batch.Transactions)+len(batch.Checkpoints))
			maxInFlight = max(maxInFlight, inFlight)
			if batches%10 == 0 {
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				maxHeap = max(maxHeap, m.HeapAlloc)
			}
		}
		return effectsHandler(ctx, tx, batch)
	})
	ing = newIngester(t, b, ingest.Config{Handler: h, StreamBuffer: buffer, MaxBatchSize: batchSize, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, ing.Run(context.Background()))
	requireAllOnce(t, b)

	growth := int64(maxHeap) - int64(base.HeapAlloc)
	t.Logf("at most %d decoded updates waited for the slow handler (bound %d); live heap grew by at most %d KiB while %d KiB of history were pending",
		maxInFlight, buffer+1+batchSize, growth>>10, total*len(payload)>>10)
	require.LessOrEqual(t, maxInFlight, int64(buffer+1+batchSize), "decoded updates beyond the StreamBuffer and the next batch")
	require.Positive(t, maxInFlight, "the stream did run ahead of the handler, up to the bound")
	require.Less(t, growth, int64(total*len(payload)/3), "heap grew with the backlog")
}

// A transaction the handler cannot apply halts ingestion with an error
// naming it, and nothing of its batch is committed. Once the handler is
// fixed, a restart resumes from the checkpoint and ingests everything once.
func TestPoisonHaltFixResume(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 60)
	bad := treasuryTxs(b.p)[33]
	var fixed atomic.Bool
	h := rejecting(bad.UpdateID, func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch, t *ledger.Transaction) error {
		if fixed.Load() {
			return effectsHandler(ctx, tx, batch)
		}
		return fmt.Errorf("unknown instrument in update %s at offset %d", t.UpdateID, t.Offset)
	})
	err := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 8, EndOffset: b.p.LedgerEnd()}).Run(context.Background())
	// The handler's error names the update itself: the Ingester's naming
	// of it is what is checked.
	require.ErrorContains(t, err, fmt.Sprintf("handler failed on transaction %s at offset %d", bad.UpdateID, bad.Offset))
	require.ErrorContains(t, err, "unknown instrument")
	halted := readState(t, b.db)
	require.Less(t, halted.Checkpoint.Offset, bad.Offset)
	for _, e := range halted.Effects {
		require.NotContains(t, e, bad.UpdateID+"@")
	}

	fixed.Store(true)
	runToEnd(t, b, ingest.Config{Handler: h, MaxBatchSize: 8})
	requireAllOnce(t, b)
}

// A transaction the participant sends malformed halts ingestion by default
// with its offset and update id; the operator restarts with PoisonSetAside,
// it goes to the review table and the rest is ingested.
func TestMalformedHaltThenSetAside(t *testing.T) {
	b := setup(t)
	malformed := appendAroundMalformed(t, b.p, 20, 500)

	err := newIngester(t, b, ingest.Config{EndOffset: b.p.LedgerEnd()}).Run(context.Background())
	requireNamesTransaction(t, err, malformed.UpdateID, malformed.Offset)
	require.Equal(t, malformed.Offset-1, readState(t, b.db).Checkpoint.Offset)

	ing := newIngester(t, b, ingest.Config{Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, ing.Run(context.Background()))
	aside, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, malformed.UpdateID, aside[0].UpdateID)
	require.Equal(t, b.p.LedgerEnd(), readState(t, b.db).Checkpoint.Offset)
	var got int
	require.NoError(t, b.db.Get(&got, `SELECT count(*) FROM effects`))
	require.Equal(t, len(treasuryTxs(b.p))-1, got)
}

// oauthEndpoint is a local OAuth2 token endpoint issuing tokens that live
// one second, each of which it makes the participant's only valid token.
type oauthEndpoint struct {
	mu      sync.Mutex
	issued  int
	expires time.Time
}

// OAuth2 client-credentials tokens live one second; the participant accepts
// only the newest and aborts streams (ABORTED ACCESS_TOKEN_EXPIRED) when it
// expires. The ingester reconnects with a fresh token each time and
// ingests, without an authentication error, while the ledger grows.
func TestTokenRefreshDuringIngestion(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond), ledgertest.WithToken("no-token-issued-yet"))
	ep := &oauthEndpoint{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, _ := r.BasicAuth(); id != "ingester" || secret != "client-secret" || r.FormValue("audience") != "participant-1" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		ep.mu.Lock()
		ep.issued++
		tok := fmt.Sprintf("token-%d", ep.issued)
		ep.expires = time.Now().Add(time.Second)
		b.p.SetToken(tok)
		ep.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 1})
	}))
	defer srv.Close()
	b.client = dial(t, b.p.Addr(), ledger.ClientCredentials(context.Background(), srv.URL, "ingester", "client-secret", ledger.WithAudience("participant-1")))

	// The participant's side of expiry: streams opened with the current
	// token end when it expires.
	stop := make(chan struct{})
	var expirer sync.WaitGroup
	expirer.Go(func() {
		notified := time.Time{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			ep.mu.Lock()
			exp := ep.expires
			ep.mu.Unlock()
			if !exp.IsZero() && time.Now().After(exp) && !exp.Equal(notified) {
				b.p.ExpireTokenOnStreams()
				notified = exp
			}
		}
	})
	defer func() { close(stop); expirer.Wait() }()

	ing := newIngester(t, b, ingest.Config{})
	done := make(chan error, 1)
	go func() { done <- ing.Run(context.Background()) }()
	n := 0
	for {
		ep.mu.Lock()
		issued := ep.issued
		ep.mu.Unlock()
		if issued >= 4 {
			break
		}
		appendN(t, b.p, n, 10)
		n += 10
		time.Sleep(50 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)
	ing.Stop()
	require.NoError(t, <-done)
	requireAllOnce(t, b)
	s := ing.Stats()
	require.Zero(t, s.Errors["auth"], "no call was made with an expired or stale token")
	require.GreaterOrEqual(t, s.Errors["stream"], int64(3), "streams were aborted at each expiry")
	t.Logf("%d tokens issued, %d transactions ingested, %d streams", ep.issued, s.Transactions, b.p.Calls("GetUpdates"))
}
