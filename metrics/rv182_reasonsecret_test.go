package metrics_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/metrics"
	"github.com/stretchr/testify/require"
)

// TestRV182HealthReasonRedactsTheLedgerEndError: a participant's address
// given as a URL with credentials (ingestd -ledger
// https://user:password@host:port) is refused by gRPC in words that quote
// it, password and all. ingestd's logs redact that error (ingest.Redact);
// the /healthz reason, which quotes it whenever the ledger end is
// unknown (a standby's 200 as an unhealthy 503), must too: the metrics
// address is served to whoever can reach it, without authentication.
func TestRV182HealthReasonRedactsTheLedgerEndError(t *testing.T) {
	const secret = "s3cret-rv182"
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: "https://treasury:" + secret + "@127.0.0.1:1", Insecure: true}})
	require.NoError(t, err)
	defer c.Close()
	_, lagErr := c.LedgerEnd(context.Background())
	require.ErrorContains(t, lagErr, secret, "gRPC's refusal quotes the target (else this test proves nothing)")

	healthWithLedgerEnd(t, c.LedgerEnd, func(state ingest.State, got metrics.Health) {
		require.Contains(t, got.Reason, "ledger end is unknown", "the reason still says why")
		require.Contains(t, got.Reason, "127.0.0.1:1", "and names the address")
		require.NotContains(t, got.Reason, secret, state)
	})
}

// healthWithLedgerEnd serves /healthz with the participant's ledger end
// from ledgerEnd, as a standby (200) and as an ingester silent for an hour
// (503), checks the status code of each and hands its answer to check.
func healthWithLedgerEnd(t *testing.T, ledgerEnd func(context.Context) (int64, error), check func(state ingest.State, got metrics.Health)) {
	t.Helper()
	clk := &clock{t: t0}
	stats := sampleStats()
	// A LagTimeout well past the default: the reason under test is the
	// participant's answer, and a refusal of a megabyte takes gRPC seconds
	// to encode and decode under -race on a busy machine (past the default
	// 5s, the reason would be the deadline instead).
	h := metrics.Handler(func() ingest.Stats { return stats }, metrics.Options{Now: clk.Now, LedgerEndLag: ledgerEnd, LagTimeout: time.Minute})
	for _, tc := range []struct {
		state ingest.State
		code  int
	}{{ingest.StateWaitingForLock, http.StatusOK}, {ingest.StateStreaming, http.StatusServiceUnavailable}} {
		stats.State = tc.state
		stats.LastCommit = t0.Add(-time.Hour)
		code, got := health(t, h)
		require.Equal(t, tc.code, code, got.Reason)
		check(tc.state, got)
	}
}
