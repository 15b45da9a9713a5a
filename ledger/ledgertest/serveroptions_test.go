package ledgertest_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// methodLog records the methods an exchange's interceptors saw.
type methodLog struct {
	mu            sync.Mutex
	unary, stream map[string]int
}

func (l *methodLog) seen(kind map[string]int, method string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kind[method]++
}

func (l *methodLog) counts() (unary, stream map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return copyCounts(l.unary), copyCounts(l.stream)
}

func copyCounts(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// An exchange adds its own interceptors to the fake's servers with
// WithServerOptions: they see the calls an Ingester makes over real
// loopback gRPC, on the Ledger API and on the admin API's own listener. A
// grpc.Creds among the options does not drop WithTLS: the client below
// speaks TLS only.
func TestWithServerOptionsInterceptorsSeeTheIngestersCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db))

	log := &methodLog{unary: map[string]int{}, stream: map[string]int{}}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		log.seen(log.unary, info.FullMethod)
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		log.seen(log.stream, info.FullMethod)
		return handler(srv, ss)
	}
	certs, err := ledgertest.NewCerts("exchange")
	require.NoError(t, err)
	p, err := ledgertest.New(
		ledgertest.WithTLS(certs.ServerConfig(false)),
		ledgertest.WithServerOptions(grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)),
		ledgertest.WithServerOptions(grpc.Creds(insecure.NewCredentials())),
	)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	h := ledgertest.TransferHistory{Treasury: "treasury::1220so"}
	txs, err := p.Append(h.Tx(0), h.Tx(1), h.Tx(2))
	require.NoError(t, err)

	client, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: p.Addr(), TLS: certs.ClientConfig(false)},
		Admin:     ledger.Endpoint{Target: p.AdminAddr(), TLS: certs.ClientConfig(false)},
	})
	require.NoError(t, err)
	defer client.Close()
	ing, err := ingest.New(db, client, ingest.Config{
		Parties:   []string{h.Treasury},
		Handler:   ingest.HandlerFunc(func(context.Context, *sqlx.Tx, *ingest.Batch) error { return nil }),
		EndOffset: p.LedgerEnd(),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	require.NoError(t, ing.Run(ctx))
	_, err = client.HighestOffsetByTimestamp(ctx, ledgertest.DefaultSynchronizer, txs[2].RecordTime, false)
	require.NoError(t, err)

	unarySeen, streamSeen := log.counts()
	require.Equal(t, map[string]int{ledgertest.MethodGetUpdates: p.Calls(ledgertest.MethodGetUpdates)}, streamSeen,
		"the stream interceptor sees every GetUpdates stream")
	require.Positive(t, streamSeen[ledgertest.MethodGetUpdates])
	for _, m := range []string{ledgertest.MethodGetLedgerEnd, ledgertest.MethodGetLatestPrunedOffsets, ledgertest.MethodGetUpdateByID} {
		require.Equal(t, p.Calls(m), unarySeen[m], "unary calls of %s", m)
	}
	require.Equal(t, 1, unarySeen[ledgertest.MethodGetHighestOffsetByTimestamp],
		"the admin API's server has the interceptor too")

	// The fake's own checks stay: an interceptor runs before them, and the
	// calls it passes on are still refused without the token.
	p.SetToken("secret")
	_, err = client.LedgerEnd(ctx)
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	unarySeen, _ = log.counts()
	require.Equal(t, p.Calls(ledgertest.MethodGetLedgerEnd), unarySeen[ledgertest.MethodGetLedgerEnd])
}

// An exchange's interceptor given WithServerOptions runs before the fake's
// Intercept hooks, so a test may simulate a participant crash there as it
// does in a hook: Close called from it must return, as from a hook, and so
// must a second Close (the test's cleanup) once the call has ended. Unary
// and stream calls, chained interceptors and the single one of
// grpc.UnaryInterceptor (which grpc-go runs before the chained ones).
func TestCloseFromAnInterceptorReturns(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  func(closeP func()) grpc.ServerOption
		call func(ctx context.Context, conn *grpc.ClientConn) error
	}{
		{"chained unary", func(closeP func()) grpc.ServerOption {
			return grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				closeP()
				return h(ctx, req)
			})
		}, ledgerEnd},
		{"single unary", func(closeP func()) grpc.ServerOption {
			return grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				closeP()
				return h(ctx, req)
			})
		}, ledgerEnd},
		{"chained stream", func(closeP func()) grpc.ServerOption {
			return grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				closeP()
				return h(srv, ss)
			})
		}, func(ctx context.Context, conn *grpc.ClientConn) error {
			s, err := lapiv2.NewUpdateServiceClient(conn).GetUpdates(ctx, &lapiv2.GetUpdatesRequest{})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No t.Cleanup(p.Close): on the old code it would never return.
			var p *ledgertest.Participant
			returned := make(chan struct{})
			closeP := func() { p.Close(); close(returned) }
			p, err := ledgertest.New(ledgertest.WithServerOptions(tc.opt(closeP)))
			require.NoError(t, err)
			conn, err := grpc.NewClient(p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(t, err)
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			go tc.call(ctx, conn) //nolint:errcheck
			select {
			case <-returned:
			case <-time.After(3 * time.Second):
				t.Fatal("Close called from an interceptor did not return: it waits for the interceptor's own call")
			}
			again := make(chan struct{})
			go func() { p.Close(); close(again) }()
			select {
			case <-again:
			case <-time.After(3 * time.Second):
				t.Fatal("a second Close did not return")
			}
		})
	}
}

func ledgerEnd(ctx context.Context, conn *grpc.ClientConn) error {
	_, err := lapiv2.NewStateServiceClient(conn).GetLedgerEnd(ctx, &lapiv2.GetLedgerEndRequest{})
	return err
}
