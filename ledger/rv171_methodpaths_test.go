package ledger_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The gRPC paths the client puts on the wire are the reference's, spelled
// out here rather than taken from the generated code: the fake participant
// serves the generated constants too, so a wrong package or service name
// there would pass every loopback test and fail against a real
// participant with UNIMPLEMENTED. A server that serves no service records
// the path of each call.
func TestClientCallsTheReferenceMethodPaths(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		m, _ := grpc.MethodFromServerStream(stream)
		mu.Lock()
		paths = append(paths, m)
		mu.Unlock()
		return status.Error(codes.Unimplemented, "recorded")
	}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	c, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: lis.Addr().String(), Insecure: true},
		Admin:     ledger.Endpoint{Target: lis.Addr().String(), Insecure: true},
	})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	filter := ledger.Filter{Parties: []string{treasury}}

	want := map[string]func() error{
		"/com.daml.ledger.api.v2.UpdateService/GetUpdates": func() error {
			s, err := c.Updates(ctx, ledger.UpdatesRequest{Filter: filter})
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.Recv()
			return err
		},
		"/com.daml.ledger.api.v2.StateService/GetLedgerEnd": func() error {
			_, err := c.LedgerEnd(ctx)
			return err
		},
		"/com.daml.ledger.api.v2.StateService/GetLatestPrunedOffsets": func() error {
			_, err := c.PrunedOffsets(ctx)
			return err
		},
		"/com.daml.ledger.api.v2.UpdateService/GetUpdateById": func() error {
			_, err := c.UpdateByID(ctx, "1220u", filter)
			return err
		},
		"/com.digitalasset.canton.admin.participant.v30.PartyManagementService/GetHighestOffsetByTimestamp": func() error {
			_, err := c.HighestOffsetByTimestamp(ctx, "global-domain::1220", time.Now(), false)
			return err
		},
	}
	for path, call := range want {
		mu.Lock()
		paths = nil
		mu.Unlock()
		err := call()
		require.Error(t, err, path)
		require.Equal(t, codes.Unimplemented, status.Code(err), "%s: %v", path, err)
		mu.Lock()
		require.Equal(t, []string{path}, paths)
		mu.Unlock()
	}
}
