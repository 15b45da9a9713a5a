package ledgertest

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/proto/gen/adminv30"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// bearer sends the token the test currently holds, as an exchange's client
// refreshing its token would.
type bearer struct{ tok *atomic.Value }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.tok.Load().(string)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// streamOrder checks what the package documentation promises of one
// tailing stream: transactions after begin_exclusive with increasing
// offsets, offsets that never decrease, and a repeated offset only on a
// checkpoint right after the transaction at that offset (or at
// begin_exclusive), never after another checkpoint.
func streamOrder(begin int64, items []*lapiv2.GetUpdatesResponse) error {
	prev, prevWasCP := begin, false
	for _, it := range items {
		switch {
		case it.GetTransaction() != nil:
			if off := it.GetTransaction().GetOffset(); off <= prev {
				return status.Errorf(codes.Internal, "transaction at %d after offset %d (begin %d)", off, prev, begin)
			} else {
				prev, prevWasCP = off, false
			}
		case it.GetOffsetCheckpoint() != nil:
			off := it.GetOffsetCheckpoint().GetOffset()
			if off < prev || (off == prev && prevWasCP) {
				return status.Errorf(codes.Internal, "checkpoint at %d after offset %d (checkpoint: %v, begin %d)", off, prev, prevWasCP, begin)
			}
			prev, prevWasCP = off, true
		}
	}
	return nil
}

// Every switch and every change of the ledger thrown from several
// goroutines while streams are open (run with -race): the streams keep the
// documented order, and Close then ends them and returns promptly.
func TestSwitchesWhileStreamsAreOpen(t *testing.T) {
	tok := &atomic.Value{}
	tok.Store("t0")
	p, err := New(WithToken("t0"), WithCheckpointInterval(time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	conn, err := grpc.NewClient(p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer{tok}))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	adminConn, err := grpc.NewClient(p.AdminAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer{tok}))
	require.NoError(t, err)
	t.Cleanup(func() { adminConn.Close() })
	updates := lapiv2.NewUpdateServiceClient(conn)
	state := lapiv2.NewStateServiceClient(conn)
	admin := adminv30.NewPartyManagementServiceClient(adminConn)
	_, err = p.Append(txFor("alice"), txFor("bob"))
	require.NoError(t, err)

	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var clients, mutators sync.WaitGroup
	var streamItems atomic.Int64
	orderErr := make(chan error, 16)

	// Tailing streams, re-opened after every error, as an ingester does.
	for i := range 4 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			req := tail(0)
			if i%2 == 1 {
				req.UpdateFormat = partyFormat(map[string]*lapiv2.Filters{"alice": wildcard()})
			}
			for !stopped() {
				req := proto.CloneOf(req)
				req.BeginExclusive = max(p.PrunedOffset(), min(req.BeginExclusive, p.LedgerEnd()))
				stream, err := updates.GetUpdates(context.Background(), req)
				if err != nil {
					continue
				}
				var items []*lapiv2.GetUpdatesResponse
				for {
					it, err := stream.Recv()
					if err != nil {
						break
					}
					items = append(items, it)
					streamItems.Add(1)
				}
				if err := streamOrder(req.BeginExclusive, items); err != nil {
					orderErr <- err
					return
				}
				if stopped() {
					// Keep one stream open into Close.
					stream, err := updates.GetUpdates(context.Background(), tail(p.LedgerEnd()))
					if err == nil {
						for {
							if _, err := stream.Recv(); err != nil {
								break
							}
						}
					}
					return
				}
			}
		}()
	}
	// Unary calls and bounded streams.
	clients.Add(1)
	go func() {
		defer clients.Done()
		for !stopped() {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			_, _ = state.GetLedgerEnd(ctx, &lapiv2.GetLedgerEndRequest{})
			_, _ = state.GetLatestPrunedOffsets(ctx, &lapiv2.GetLatestPrunedOffsetsRequest{})
			_, _ = updates.GetUpdateById(ctx, &lapiv2.GetUpdateByIdRequest{UpdateId: "upd-3", UpdateFormat: anyPartyFormat(false)})
			_, _ = admin.GetHighestOffsetByTimestamp(ctx, &adminv30.GetHighestOffsetByTimestampRequest{
				SynchronizerId: DefaultSynchronizer, Timestamp: timestamppb.New(DefaultStartTime.Add(5 * time.Millisecond))})
			if end := p.LedgerEnd(); end > 0 {
				if s, err := updates.GetUpdates(ctx, bounded(p.PrunedOffset(), end)); err == nil {
					for {
						if _, err := s.Recv(); err != nil {
							break
						}
					}
				}
			}
			cancel()
		}
	}()

	// The test's goroutines script the ledger and throw the switches.
	mutate := func(seed uint64, steps ...func(r *rand.Rand)) {
		mutators.Add(1)
		go func() {
			defer mutators.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for !stopped() {
				steps[r.IntN(len(steps))](r)
				time.Sleep(time.Duration(r.IntN(500)) * time.Microsecond)
			}
		}()
	}
	var snap atomic.Pointer[Snapshot]
	s0 := p.Backup()
	snap.Store(&s0)
	mutate(1,
		func(*rand.Rand) { _, _ = p.Append(txFor("alice"), txFor("bob")) },
		func(*rand.Rand) { _, _ = p.Append(txFor("bob")) },
		func(*rand.Rand) { p.AdvanceTime("", time.Time{}) },
		func(r *rand.Rand) {
			p.AdvanceTime("other::1", DefaultStartTime.Add(time.Duration(r.IntN(1000))*time.Second))
		},
	)
	mutate(2,
		func(*rand.Rand) { _ = p.Prune(p.LedgerEnd() / 2) },
		func(*rand.Rand) { s := p.Backup(); snap.Store(&s) },
		func(r *rand.Rand) { p.Restore(*snap.Load(), WithCatchUp(r.IntN(2) == 0)) },
		func(r *rand.Rand) { p.CatchUp(r.IntN(3) - 1) },
		func(*rand.Rand) { _, _, _, _ = p.Pending(), p.Transactions(), p.Requests(), p.Backup().LedgerEnd() },
	)
	mutate(3,
		func(r *rand.Rand) {
			p.FailNext([]string{"GetUpdates", "GetLedgerEnd", "GetUpdateById", "GetHighestOffsetByTimestamp"}[r.IntN(4)], r.IntN(3), codes.Unavailable)
		},
		func(r *rand.Rand) {
			next := []string{"t0", "t1"}[r.IntN(2)]
			tok.Store(next)
			p.SetToken(next)
		},
		func(*rand.Rand) { p.ExpireTokenOnStreams() },
		func(r *rand.Rand) { p.DropStreamsAfter(r.IntN(4)) },
		func(r *rand.Rand) { p.StallStreams(r.IntN(3) == 0) },
		func(r *rand.Rand) { p.SetDelay(time.Duration(r.IntN(2)) * 100 * time.Microsecond) },
		func(r *rand.Rand) {
			if r.IntN(2) == 0 {
				p.Intercept("GetUpdates", nil)
				return
			}
			p.Intercept("GetUpdates", func(context.Context, proto.Message) error { _ = p.LedgerEnd(); return nil })
		},
		func(r *rand.Rand) { p.SetAdminBehaviour([]AdminBehaviour{AdminV34, AdminV35}[r.IntN(2)]) },
	)

	time.Sleep(1500 * time.Millisecond)
	close(stop)
	mutators.Wait()
	p.StallStreams(false)
	p.DropStreamsAfter(0)
	p.SetDelay(0)
	p.FailNext("GetUpdates", 0, codes.Unavailable)

	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(waitFor):
		t.Fatal("Close did not return with streams open")
	}
	ended := make(chan struct{})
	go func() { clients.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(waitFor):
		t.Fatal("the clients' calls did not end after Close")
	}
	close(orderErr)
	for err := range orderErr {
		require.NoError(t, err)
	}
	require.Positive(t, streamItems.Load(), "the streams delivered nothing")
	t.Logf("%d stream items, %d GetUpdates calls, ledger end %d", streamItems.Load(), p.Calls(MethodGetUpdates), p.LedgerEnd())
	_, err = p.Append(txFor("alice"))
	require.True(t, err != nil && !errors.Is(err, context.Canceled), "Append after Close: %v", err)
}
