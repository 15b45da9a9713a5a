package metrics_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestRV182HealthReasonBoundsTheLedgerEndError: the /healthz reason quotes
// the participant's refusal of GetLedgerEnd whole, and a participant or a
// proxy before it may say a lot (a megabyte here; gRPC takes up to 16 MiB
// of trailers): every liveness probe then carries it. The reason keeps the
// refusal's start, enough to tell which, and stays short.
func TestRV182HealthReasonBoundsTheLedgerEndError(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	msg := "PROXY_REFUSED(1,0): " + strings.Repeat("é", 1<<19)
	p.Intercept(ledgertest.MethodGetLedgerEnd, func(context.Context, proto.Message) error {
		return status.Error(codes.Unavailable, msg)
	})
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer c.Close()

	clk := &clock{t: t0}
	stats := sampleStats()
	h := metrics.Handler(func() ingest.Stats { return stats }, metrics.Options{Now: clk.Now, LedgerEndLag: c.LedgerEnd})
	for _, tc := range []struct {
		state ingest.State
		code  int
	}{{ingest.StateWaitingForLock, http.StatusOK}, {ingest.StateStreaming, http.StatusServiceUnavailable}} {
		stats.State = tc.state
		stats.LastCommit = t0.Add(-time.Hour)
		code, got := health(t, h)
		require.Equal(t, tc.code, code)
		require.Contains(t, got.Reason, "ledger: GetLedgerEnd: Unavailable: PROXY_REFUSED(1,0): éé", tc.state)
		require.Less(t, len(got.Reason), 2000, tc.state)
	}
}
