package tokenstd_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// brokenParticipant is a participant's Update and State services that
// stream whatever a test scripts, however wrong: offsets that do not rise,
// checkpoints that go back, update ids sent twice. GetUpdates sends the
// items from the first one after the request's begin offset on, whatever
// their offsets, then ends the stream (status OK). GetUpdateById answers
// the first transaction with the id.
type brokenParticipant struct {
	lapiv2.UnimplementedUpdateServiceServer
	lapiv2.UnimplementedStateServiceServer
	mu    sync.Mutex
	items []*lapiv2.GetUpdatesResponse
	end   int64
	// all makes GetUpdates send every item, ignoring the begin offset.
	all bool
}

func itemOffset(r *lapiv2.GetUpdatesResponse) int64 {
	if tx := r.GetTransaction(); tx != nil {
		return tx.GetOffset()
	}
	return r.GetOffsetCheckpoint().GetOffset()
}

// script replaces what the participant streams; its ledger end is end.
func (s *brokenParticipant) script(end int64, items ...*lapiv2.GetUpdatesResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items, s.end, s.all = items, end, false
}

func (s *brokenParticipant) GetLedgerEnd(context.Context, *lapiv2.GetLedgerEndRequest) (*lapiv2.GetLedgerEndResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &lapiv2.GetLedgerEndResponse{Offset: s.end}, nil
}

func (s *brokenParticipant) GetLatestPrunedOffsets(context.Context, *lapiv2.GetLatestPrunedOffsetsRequest) (*lapiv2.GetLatestPrunedOffsetsResponse, error) {
	return &lapiv2.GetLatestPrunedOffsetsResponse{}, nil
}

func (s *brokenParticipant) GetUpdateById(_ context.Context, r *lapiv2.GetUpdateByIdRequest) (*lapiv2.GetUpdateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.items {
		if tx := it.GetTransaction(); tx != nil && tx.GetUpdateId() == r.GetUpdateId() {
			return &lapiv2.GetUpdateResponse{Update: &lapiv2.GetUpdateResponse_Transaction{Transaction: tx}}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "update %s not found", r.GetUpdateId())
}

func (s *brokenParticipant) GetUpdates(r *lapiv2.GetUpdatesRequest, st grpc.ServerStreamingServer[lapiv2.GetUpdatesResponse]) error {
	s.mu.Lock()
	items, all := s.items, s.all
	s.mu.Unlock()
	from := len(items)
	for i, it := range items {
		if all || itemOffset(it) > r.GetBeginExclusive() {
			from = i
			break
		}
	}
	for _, it := range items[from:] {
		if err := st.Send(it); err != nil {
			return err
		}
	}
	return nil
}

// brokenRig ingests from a brokenParticipant into the rig's database with
// the History and the withdrawal Reconciler chained, as examples/ingestd.
type brokenRig struct {
	*rig
	s    *brokenParticipant
	w    *ledgertest.TokenWorld
	t0   time.Time
	sync string
}

func newBrokenRig(t *testing.T) *brokenRig {
	t.Helper()
	r := newRig(t)
	s := &brokenParticipant{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	lapiv2.RegisterUpdateServiceServer(srv, s)
	lapiv2.RegisterStateServiceServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: lis.Addr().String(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	r.client = client
	return &brokenRig{rig: r, s: s, w: &ledgertest.TokenWorld{}, t0: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), sync: "sync::1"}
}

// deposit returns a deposit of amount to the treasury as the treasury's
// participant shows it, at offset off with update id u<off> and a record
// time off seconds after t0.
func (r *brokenRig) deposit(off int64, amount string) *ledger.Transaction {
	r.t.Helper()
	if off == 1 {
		r.w.Mint(alice, "1000000")
	}
	tx := ledgertest.TokenProjection(r.w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: amount, Reason: "acct-1"}), treasury)
	require.NotNil(r.t, tx)
	tx.Offset, tx.UpdateID, tx.SynchronizerID = off, fmt.Sprintf("u%d", off), r.sync
	tx.RecordTime = r.t0.Add(time.Duration(off) * time.Second)
	tx.EffectiveAt = tx.RecordTime
	return tx
}

func txItem(tx *ledger.Transaction) *lapiv2.GetUpdatesResponse {
	return &lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_Transaction{Transaction: tx.Proto()}}
}

func cpItem(off int64, times ...ledger.SynchronizerTime) *lapiv2.GetUpdatesResponse {
	c := &ledger.OffsetCheckpoint{Offset: off, SynchronizerTimes: times}
	return &lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_OffsetCheckpoint{OffsetCheckpoint: c.Proto()}}
}

// runTo ingests up to end under the policy, in batches of at most batch
// transactions (0: the default); it fails the test on a hang.
func (r *brokenRig) runTo(policy ingest.PoisonPolicy, end int64, batch int) error {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.b.ctx, 20*time.Second)
	defer cancel()
	ing, err := ingest.New(r.b.db, r.client, ingest.Config{
		Parties: []string{treasury}, Schema: testSchema, Handler: r.handler, EndOffset: end, MaxBatchSize: batch,
		Poison: policy, MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(r.t, err)
	err = ing.Run(ctx)
	require.NoError(r.t, ctx.Err(), "Run hung (returned %v)", err)
	return err
}

// deposits counts the treasury's booked deposits.
func (r *brokenRig) deposits() int {
	return r.count(`SELECT count(*) FROM tokens.token_history WHERE kind = 'deposit'`)
}
