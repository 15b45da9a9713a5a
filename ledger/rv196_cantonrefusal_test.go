package ledger_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The request of TestRV116OversizedRequestIsNotTheClientsLimit, refused
// as a Canton participant refuses it. The fake is a grpc-go server, whose
// refusal of a request over its limit is worded as the client's own
// refusal of a big answer ("grpc: received message larger than max"), and
// the client recognised those words only. Canton serves the Ledger API
// with grpc-java, which refuses a message over max-inbound-message-size
// with RESOURCE_EXHAUSTED "gRPC message exceeds maximum size <limit>:
// <size>" (io.grpc.internal.MessageDeframer): the client took that for a
// participant's backpressure, retried the same request for ever and named
// neither the request nor the participant's limit.
func TestRV196CantonRefusesAnOversizedRequest(t *testing.T) {
	const cantonLimit = 4 << 20
	p, err := ledgertest.New(ledgertest.WithServerOptions(grpc.MaxRecvMsgSize(64 << 20)))
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(memoTx("00c1", "small"))
	require.NoError(t, err)
	refuse := func(_ context.Context, req proto.Message) error {
		if n := proto.Size(req); n > cantonLimit {
			return status.Errorf(codes.ResourceExhausted, "gRPC message exceeds maximum size %d: %d", cantonLimit, n)
		}
		return nil
	}
	p.Intercept("GetUpdates", refuse)
	p.Intercept("GetUpdateById", refuse)
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer c.Close()
	f := manyParties()

	s, err := c.Updates(context.Background(), ledger.UpdatesRequest{EndInclusive: 1, Filter: f})
	require.NoError(t, err)
	_, err = s.Recv()
	require.Error(t, err)
	t.Logf("Updates: %v", err)
	requireRequestRefused(t, err)
	require.ErrorIs(t, err, ledger.ErrMessageRejected)

	_, err = c.UpdateByID(context.Background(), p.Transactions()[0].UpdateID, f)
	require.Error(t, err)
	t.Logf("UpdateByID: %v", err)
	requireRequestRefused(t, err)

	// A filter the participant takes is served as before.
	s, err = c.Updates(context.Background(), ledger.UpdatesRequest{EndInclusive: 1, Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	u, err := s.Recv()
	require.NoError(t, err)
	require.NotNil(t, u)
}
