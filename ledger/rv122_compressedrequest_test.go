package ledger_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
)

// The request of TestRV116OversizedRequestIsNotTheClientsLimit, sent
// compressed (a connection given to NewClient whose calls use gzip): the
// participant refuses it after decompression, naming its limit plus one
// byte (grpc-go stops decompressing there), or the compressed size, not
// the request's. The error must still say the participant refused the
// request, not send the operator to the client's limit.
func TestCompressedOversizedRequestIsNotTheClientsLimit(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(memoTx("00c1", "small"))
	require.NoError(t, err)
	conn, err := grpc.NewClient(p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name)))
	require.NoError(t, err)
	defer conn.Close()
	c := ledger.NewClient(conn, nil)
	f := manyParties()

	s, err := c.Updates(context.Background(), ledger.UpdatesRequest{EndInclusive: 1, Filter: f})
	require.NoError(t, err)
	_, err = s.Recv()
	require.Error(t, err)
	t.Logf("Updates: %v", err)
	require.NotContains(t, err.Error(), "larger than the client takes")
	require.ErrorContains(t, err, "the participant refused the request")

	_, err = c.UpdateByID(context.Background(), p.Transactions()[0].UpdateID, f)
	require.Error(t, err)
	t.Logf("UpdateByID: %v", err)
	require.NotContains(t, err.Error(), "larger than the client takes")
	require.ErrorContains(t, err, "the participant refused the request")
}
