package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// echoProxy is an HTTP/2 endpoint that is no gRPC server: a proxy, an
// ingress's default backend or a gateway in front of the participant
// answering status with a body that echoes the request's headers, as
// debugging pages and echo services do. It returns its address.
func echoProxy(t *testing.T, status int) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		fmt.Fprintf(w, "no route for %s; you sent:\n", r.URL.Path)
		for k, v := range r.Header {
			fmt.Fprintf(w, "%s: %s\n", k, strings.Join(v, ","))
		}
	})}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Close() })
	return lis.Addr().String()
}

// A call answered by something other than the participant (grpc-go puts
// up to 1 KiB of a non-gRPC response body into the status message) must
// not hand back the bearer token that body echoes: not in the error, what
// it wraps, nor the Ingester's log lines while it retries.
func TestSecNonGRPCBodyDoesNotQuoteTheToken(t *testing.T) {
	const token = "tok-7d1e9a3c5b2f"
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusOK, http.StatusUnauthorized} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			addr := echoProxy(t, status)
			c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: addr, Insecure: true, Tokens: ledger.StaticToken(token)}})
			require.NoError(t, err)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var errs []error
			_, err = c.LedgerEnd(ctx)
			errs = append(errs, err)
			_, err = c.UpdateByID(ctx, "upd-1", ledger.Filter{Parties: []string{"treasury::1220"}})
			errs = append(errs, err)
			st, err := c.Updates(ctx, ledger.UpdatesRequest{Filter: ledger.Filter{Parties: []string{"treasury::1220"}}})
			require.NoError(t, err)
			_, err = st.Recv()
			st.Close()
			errs = append(errs, err)
			for _, err := range errs {
				require.Error(t, err)
				require.Contains(t, err.Error(), "unexpected", "not grpc-go's error for a non-gRPC answer: %v", err)
				for e := err; e != nil; e = errors.Unwrap(e) {
					require.NotContains(t, e.Error(), token, "the token in the error")
					require.NotContains(t, fmt.Sprintf("%+v", e), token, "the token in the error")
				}
			}
		})
	}

	// The Ingester retries UNAVAILABLE (and UNKNOWN), logging each attempt.
	if testing.Short() {
		return
	}
	db, err := sqlx.Open("postgres", pgtest.NewDSN(t))
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, schema.Migrate(ctxT(t), db))
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusOK} {
		c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: echoProxy(t, status), Insecure: true, Tokens: ledger.StaticToken(token)}})
		require.NoError(t, err)
		defer c.Close()
		var logs syncbuf.Buffer
		ing, err := ingest.New(db, c, ingest.Config{Parties: []string{"treasury::1220"}, MaxAttempts: 3,
			MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = ing.Run(ctx)
		cancel()
		require.Error(t, err)
		require.Contains(t, logs.String(), "ingest: retrying")
		require.NotContains(t, logs.String(), token, "the token in the log")
		require.NotContains(t, err.Error(), token, "the token in Run's error")
	}
}
