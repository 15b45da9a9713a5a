package metrics_test

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/stretchr/testify/require"
)

// Bounds ending in +Inf (as client_golang accepts them) or with a repeated
// bound give duplicate bucket series, which the exposition format forbids.
func TestHistogramInfBoundIsWrittenOnce(t *testing.T) {
	clk := &clock{t: t0}
	hist := metrics.NewLatencyHistogram(0.1, 1, math.Inf(1))
	hist.ObserveDuration(50 * time.Millisecond)
	code, _, body := get(t, metrics.Handler(sampleStats, metrics.Options{Now: clk.Now, Latency: hist}), "/metrics")
	require.Equal(t, http.StatusOK, code)
	samples := parse(t, body) // fails on a duplicate sample
	require.Contains(t, samples, `txhistory_batch_latency_seconds_bucket{le="+Inf"}`)
}

func TestHistogramRepeatedBoundIsWrittenOnce(t *testing.T) {
	clk := &clock{t: t0}
	hist := metrics.NewLatencyHistogram(0.1, 1, 1)
	hist.ObserveDuration(500 * time.Millisecond)
	_, _, body := get(t, metrics.Handler(sampleStats, metrics.Options{Now: clk.Now, Latency: hist}), "/metrics")
	samples := parse(t, body)
	require.Contains(t, samples, `txhistory_batch_latency_seconds_bucket{le="1"}`)
}

// A Namespace that is no Prometheus metric name prefix ("tx-history")
// made every line of /metrics unparseable for Prometheus, which then
// scraped nothing; Handler refuses it when it is built.
func TestInvalidNamespaceIsRefused(t *testing.T) {
	src := func() ingest.Stats { return ingest.Stats{} }
	for _, ns := range []string{"tx-history", "1tx", "tx history", "tx.history"} {
		require.PanicsWithValue(t, fmt.Sprintf("metrics: Options.Namespace %q is not a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)", ns),
			func() { metrics.Handler(src, metrics.Options{Namespace: ns}) }, ns)
	}
	h := metrics.Handler(src, metrics.Options{Namespace: "exchange_tx:history"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), "\nexchange_tx:history_")
}

// A nil src (an Ingester's Stats method value taken from a nil *Ingester
// is not nil, but a nil func is) made every scrape panic inside net/http,
// which recovers it and answers nothing: the target looks down with no
// reason logged by the service. Handler refuses it when it is built.
func TestNilSourceIsRefused(t *testing.T) {
	require.PanicsWithValue(t, "metrics: Handler: nil statistics source (src)",
		func() { metrics.Handler(nil, metrics.Options{}) })
}

// A negative MaxSilence, StartupGrace or LagTimeout (a sign typed by
// mistake, or a flag's arithmetic) was taken for zero, the default,
// where ingest, recovery and withdrawal refuse negatives by name; Handler
// refuses them when it is built, as it does an invalid Namespace.
func TestNegativeDurationsAreRefused(t *testing.T) {
	src := func() ingest.Stats { return ingest.Stats{} }
	for _, c := range []struct {
		name string
		v    time.Duration
		opts metrics.Options
	}{
		{"MaxSilence", -time.Minute, metrics.Options{MaxSilence: -time.Minute}},
		{"StartupGrace", -time.Second, metrics.Options{StartupGrace: -time.Second}},
		{"LagTimeout", -5 * time.Second, metrics.Options{LagTimeout: -5 * time.Second}},
	} {
		require.PanicsWithValue(t, fmt.Sprintf("metrics: Options.%s is negative (%v): zero gives the default", c.name, c.v),
			func() { metrics.Handler(src, c.opts) }, c.name)
	}
	// Zero still means the default.
	require.NotPanics(t, func() { metrics.Handler(src, metrics.Options{}) })
}
