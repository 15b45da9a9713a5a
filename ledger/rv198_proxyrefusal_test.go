package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// rawCodec passes messages through as bytes, as a transparent gRPC proxy
// does.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// goProxy serves a transparent gRPC proxy in front of target (written with
// grpc-go, as many are), whose connection to target takes messages of at
// most limit bytes. A message over it is refused by the proxy's own gRPC
// client, and the proxy passes the status on.
func goProxy(t *testing.T, target string, limit int) string {
	t.Helper()
	up, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(limit)))
	require.NoError(t, err)
	t.Cleanup(func() { up.Close() })
	forward := func(_ any, ss grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(ss)
		md, _ := metadata.FromIncomingContext(ss.Context())
		cs, err := up.NewStream(metadata.NewOutgoingContext(ss.Context(), md),
			&grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method)
		if err != nil {
			return err
		}
		var req []byte
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		if err := cs.SendMsg(&req); err != nil {
			return err
		}
		if err := cs.CloseSend(); err != nil {
			return err
		}
		for {
			var resp []byte
			if err := cs.RecvMsg(&resp); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
			if err := ss.SendMsg(&resp); err != nil {
				return err
			}
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(forward))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// requireAnswerRefusedOnTheWay: the refusal of an answer by a hop between
// the client and the participant neither sends the operator to the
// participant's limit on requests (the request was a hundred bytes; the
// participant took it) nor to the client's own limit, which the answer is
// far below; it names the answer and its size.
func requireAnswerRefusedOnTheWay(t *testing.T, err error, what string, size int) {
	t.Helper()
	require.ErrorIs(t, err, ledger.ErrMessageRejected)
	require.False(t, ledger.IsRetryable(err), "the same answer is refused again")
	require.NotContains(t, err.Error(), "the participant refused the request")
	require.NotContains(t, err.Error(), "max-inbound-message-size")
	require.NotContains(t, err.Error(), "fewer parties")
	require.NotContains(t, err.Error(), "larger than the client takes")
	require.ErrorContains(t, err, what)
	require.ErrorContains(t, err, fmt.Sprint(size))
	require.ErrorContains(t, err, "proxy")
}

// A transaction bigger than what a proxy in front of the participant takes
// (a transparent proxy written with grpc-go, whose own connection to the
// participant keeps gRPC's limit; or one in Java, which says so in
// grpc-java's words) is refused by the proxy, which passes its gRPC
// client's refusal on. The limit it names is not the client's, and the
// client took every such refusal for the participant's refusal of the
// request: "the participant refused the request (98 bytes, a filter of 1
// parties) ...: raise the participant's max-inbound-message-size or ask for
// fewer parties", neither of which can help, where the refused message is
// hundreds of times the request and neither the participant's limit nor
// the client's is the one to raise.
func TestRV198ProxyRefusesTheAnswer(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(memoTx("00c1", "small"), memoTx("00c2", strings.Repeat("x", 64<<10)))
	require.NoError(t, err)
	big := p.Transactions()[1]
	f := ledger.Filter{Parties: []string{treasury}}

	t.Run("grpc-go proxy", func(t *testing.T) {
		c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: goProxy(t, p.Addr(), 16<<10), Insecure: true}})
		require.NoError(t, err)
		defer c.Close()
		s, err := c.Updates(context.Background(), ledger.UpdatesRequest{Filter: f})
		require.NoError(t, err)
		defer s.Close()
		u, err := s.Recv()
		require.NoError(t, err, "the small transaction passes")
		require.NotNil(t, u)
		_, err = s.Recv()
		require.Error(t, err)
		t.Logf("Updates: %v", err)
		requireAnswerRefusedOnTheWay(t, err, fmt.Sprintf("offset %d", big.Offset-1), 16<<10)

		_, err = c.UpdateByID(context.Background(), big.UpdateID, f)
		require.Error(t, err)
		t.Logf("UpdateByID: %v", err)
		requireAnswerRefusedOnTheWay(t, err, big.UpdateID, 16<<10)
	})

	t.Run("grpc-java proxy", func(t *testing.T) {
		const javaLimit = 16 << 10
		// A proxy in Java passes on its gRPC client's refusal of the
		// answer in grpc-java's words (io.grpc.internal.MessageDeframer).
		refuse := func(_ context.Context, req proto.Message) error {
			if r, ok := req.(interface{ GetUpdateId() string }); ok && r.GetUpdateId() != big.UpdateID {
				return nil
			}
			return status.Errorf(codes.ResourceExhausted, "gRPC message exceeds maximum size %d: %d", javaLimit, 70_000)
		}
		p.Intercept("GetUpdates", refuse)
		p.Intercept("GetUpdateById", refuse)
		defer p.Intercept("GetUpdates", nil)
		defer p.Intercept("GetUpdateById", nil)
		c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
		require.NoError(t, err)
		defer c.Close()
		s, err := c.Updates(context.Background(), ledger.UpdatesRequest{BeginExclusive: big.Offset - 1, Filter: f})
		require.NoError(t, err)
		defer s.Close()
		_, err = s.Recv()
		require.Error(t, err)
		t.Logf("Updates: %v", err)
		requireAnswerRefusedOnTheWay(t, err, fmt.Sprintf("offset %d", big.Offset-1), javaLimit)

		_, err = c.UpdateByID(context.Background(), big.UpdateID, f)
		require.Error(t, err)
		t.Logf("UpdateByID: %v", err)
		requireAnswerRefusedOnTheWay(t, err, big.UpdateID, javaLimit)

		// A connection of the caller's, whose limit the client does not
		// know: grpc-java's words are still not the client's.
		conn, err := grpc.NewClient(p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		_, err = ledger.NewClient(conn, nil).UpdateByID(context.Background(), big.UpdateID, f)
		require.Error(t, err)
		t.Logf("UpdateByID (NewClient): %v", err)
		requireAnswerRefusedOnTheWay(t, err, big.UpdateID, javaLimit)
		require.NotContains(t, err.Error(), "MaxRecvMsgSize, 0)")
	})
}
