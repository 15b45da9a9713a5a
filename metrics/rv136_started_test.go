package metrics_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/stretchr/testify/require"
)

// TestRV136OptionsStarted: the startup grace and the "since start" of
// /healthz's reasons count from Options.Started, and, for an embedder that
// does not set it (its zero value), from when Handler is created, as they
// did before Started existed.
func TestRV136OptionsStarted(t *testing.T) {
	stats := sampleStats()
	stats.State = ingest.StateStreaming
	stats.LastCommit = time.Time{}
	stats.Errors = nil
	lag := func(context.Context) (int64, error) { return 5, nil }
	for _, c := range []struct {
		name    string
		started time.Time // zero: not set
		grace   time.Duration
		at      time.Duration // after t0, when Handler is created
		code    int
		reason  string
	}{
		{name: "unset, within MaxSilence of Handler", at: 59 * time.Second, code: http.StatusOK, reason: "starting: no commit yet (59s since start)"},
		{name: "unset, past MaxSilence of Handler", at: 61 * time.Second, code: http.StatusServiceUnavailable, reason: "no commit in the 1m1s since start"},
		{name: "started before Handler, past MaxSilence", started: t0.Add(-2 * time.Minute), code: http.StatusServiceUnavailable, reason: "no commit in the 2m0s since start"},
		{name: "started before Handler, within StartupGrace", started: t0.Add(-30 * time.Second), grace: 45 * time.Second, at: 14 * time.Second, code: http.StatusOK, reason: "starting: no commit yet (44s since start)"},
		{name: "started before Handler, past StartupGrace", started: t0.Add(-30 * time.Second), grace: 45 * time.Second, at: 16 * time.Second, code: http.StatusServiceUnavailable, reason: "no commit in the 46s since start"},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{t: t0}
			h := metrics.Handler(func() ingest.Stats { return stats }, metrics.Options{
				Now: clk.Now, MaxSilence: time.Minute, StartupGrace: c.grace, Started: c.started, LedgerEndLag: lag,
			})
			clk.t = t0.Add(c.at)
			code, got := health(t, h)
			require.Equal(t, c.code, code, got.Reason)
			require.Contains(t, got.Reason, c.reason)
		})
	}
}
