package metrics_test

import (
	"math"
	"net/http"
	"testing"
	"time"

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
