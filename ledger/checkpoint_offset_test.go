package ledger_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// sequenceServer sends the given responses on every GetUpdates stream.
type sequenceServer struct {
	lapiv2.UnimplementedUpdateServiceServer
	items []*lapiv2.GetUpdatesResponse
}

func (s *sequenceServer) GetUpdates(_ *lapiv2.GetUpdatesRequest, st grpc.ServerStreamingServer[lapiv2.GetUpdatesResponse]) error {
	for _, it := range s.items {
		if err := st.Send(it); err != nil {
			return err
		}
	}
	return nil
}

func checkpointAt(off int64, rt time.Time) *lapiv2.GetUpdatesResponse {
	return &lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_OffsetCheckpoint{OffsetCheckpoint: &lapiv2.OffsetCheckpoint{
		Offset: off, SynchronizerTimes: []*lapiv2.SynchronizerTime{{SynchronizerId: "sync::1", RecordTime: timestamppb.New(rt)}}}}}
}

func txAt(off int64, rt time.Time) *lapiv2.GetUpdatesResponse {
	return &lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_Transaction{Transaction: &lapiv2.Transaction{
		UpdateId: fmt.Sprintf("upd-%d", off), Offset: off, SynchronizerId: "sync::1", RecordTime: timestamppb.New(rt),
		EffectiveAt: timestamppb.New(rt)}}}
}

func recvSequence(t *testing.T, items ...*lapiv2.GetUpdatesResponse) ([]ledger.Update, error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	lapiv2.RegisterUpdateServiceServer(srv, &sequenceServer{items: items})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: lis.Addr().String(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	s, err := c.Updates(context.Background(), ledger.UpdatesRequest{Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	var out []ledger.Update
	for {
		u, err := s.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, u)
	}
}

// An OffsetCheckpoint at the offset of the transaction before it says that
// everything up to that transaction has been delivered: accepted. A
// transaction that does not move past it, or a checkpoint going back, is
// still refused.
func TestCheckpointAtTheLastTransactionsOffset(t *testing.T) {
	rt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := recvSequence(t, txAt(5, rt), checkpointAt(5, rt.Add(time.Second)), txAt(6, rt.Add(2*time.Second)), checkpointAt(6, rt.Add(3*time.Second)))
	require.NoError(t, err)
	require.Len(t, got, 4)

	_, err = recvSequence(t, txAt(5, rt), checkpointAt(5, rt), txAt(5, rt))
	var de *ledger.DecodeError
	require.ErrorAs(t, err, &de)
	require.EqualValues(t, 5, de.Offset)

	_, err = recvSequence(t, txAt(5, rt), checkpointAt(4, rt))
	require.ErrorAs(t, err, &de)
}

// An item of a kind this library does not know (a newer participant's,
// or an empty one) stops the stream: its offset cannot be read, so the
// error names the offset it came after, where ingestion stands, and says
// what it is. It said "update stream item has no known kind" alone.
func TestUnknownUpdateKindNamesTheOffsetBefore(t *testing.T) {
	rt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := recvSequence(t, txAt(5, rt), checkpointAt(6, rt.Add(time.Second)), &lapiv2.GetUpdatesResponse{}, txAt(8, rt.Add(2*time.Second)))
	require.Len(t, got, 2)
	require.ErrorIs(t, err, ledger.ErrUnknownUpdateKind)
	require.ErrorContains(t, err, "the item after offset 6")
	require.False(t, ledger.IsRetryable(err))
}
