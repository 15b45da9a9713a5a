package ledger_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // as many binaries register it: the client then accepts gzip
)

// gzipServer sends its item compressed, as a participant (or a proxy in
// front of it) does to a client that accepts gzip.
type gzipServer struct {
	lapiv2.UnimplementedUpdateServiceServer
	item *lapiv2.GetUpdatesResponse
}

func (s *gzipServer) GetUpdates(_ *lapiv2.GetUpdatesRequest, st grpc.ServerStreamingServer[lapiv2.GetUpdatesResponse]) error {
	if err := grpc.SetSendCompressor(st.Context(), "gzip"); err != nil {
		return err
	}
	return st.Send(s.item)
}

// A compressed message larger than MaxRecvMsgSize once decompressed comes
// again on every retry from the same offset, exactly as an uncompressed one
// does (TestOversizedMessageIsNotRetryable): ErrMessageRejected, not a
// fault for the ingester to retry forever.
func TestCompressedOversizedMessageIsNotRetryable(t *testing.T) {
	item := txAt(5, time.Unix(100, 0))
	item.GetTransaction().CommandId = strings.Repeat("x", 8192) // compresses to far less than 1 KiB
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	lapiv2.RegisterUpdateServiceServer(srv, &gzipServer{item: item})
	go srv.Serve(lis)
	defer srv.Stop()
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: lis.Addr().String(), Insecure: true}, MaxRecvMsgSize: 1024})
	require.NoError(t, err)
	defer c.Close()
	s, err := c.Updates(context.Background(), ledger.UpdatesRequest{Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	_, err = s.Recv()
	require.Error(t, err)
	require.ErrorIs(t, err, ledger.ErrMessageRejected)
	require.False(t, ledger.IsRetryable(err), "%v", err)
}
