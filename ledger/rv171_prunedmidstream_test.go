package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// Reference, errors table: pruning that runs while a stream is open ends
// it, with the pruned error if the stream's position is now below the
// pruning offset. The PrunedError then names that position, the offset
// the stream would resume from, not the begin offset it was opened at:
// the ingestion's error must name the offset that was pruned.
func TestPrunedMidStreamNamesTheStreamsPosition(t *testing.T) {
	ctx := context.Background()
	// The stream is mid-range when pruning runs: the participant holds
	// offset 3 back until the test has pruned (a delay between the items
	// would count on the test pruning within it).
	pruned := make(chan struct{})
	holdBack := grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &holdingStream{ServerStream: ss, offset: 3, until: pruned})
	})
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(time.Hour), ledgertest.WithServerOptions(holdBack))
	require.NoError(t, err)
	defer p.Close()
	for range 5 {
		_, err := p.Append(holdingTx(treasury, "1"))
		require.NoError(t, err)
	}
	c := newClient(t, p)
	s, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: 5, Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	defer s.Close()
	var last int64
	for last < 2 {
		u, err := s.Recv()
		require.NoError(t, err)
		last = u.Offset()
	}
	require.NoError(t, p.Prune(4))
	close(pruned)
	for {
		u, err := s.Recv()
		if err != nil {
			var pe *ledger.PrunedError
			require.True(t, errors.As(err, &pe), "%v", err)
			require.Less(t, last, int64(4), "the stream read past the pruning offset before it ran")
			require.Equal(t, int64(4), pe.EarliestOffset)
			require.Equal(t, last, pe.Requested, "%v", err)
			require.Contains(t, pe.Error(), fmt.Sprintf("offset %d was pruned", last))
			return
		}
		last = u.Offset()
	}
}

// holdingStream holds the transaction at offset back until until is
// closed or the stream ends.
type holdingStream struct {
	grpc.ServerStream
	offset int64
	until  <-chan struct{}
}

func (s *holdingStream) SendMsg(m any) error {
	if r, ok := m.(*lapiv2.GetUpdatesResponse); ok && r.GetTransaction().GetOffset() == s.offset {
		select {
		case <-s.until:
		case <-s.Context().Done(): // the client went away, or the fake closed
		}
	}
	return s.ServerStream.SendMsg(m)
}
