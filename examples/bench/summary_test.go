package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSummaryFiguresAgreeWithVerdicts: a verdict line must not print its
// figure rounded onto the target. Run 1 of BENCHMARKS.md put e2e at 49.7%
// of the ceiling, which the summary printed as "e2e/ceiling = 50% ...
// target ≥ 50%: MISSED"; a peak RSS of 150.3 MB printed as "peak RSS 150
// MB ... target ≤ 150 MB: MISSED".
func TestSummaryFiguresAgreeWithVerdicts(t *testing.T) {
	line := func(out, target string) string {
		for l := range strings.SplitSeq(out, "\n") {
			if strings.Contains(l, target) {
				return l
			}
		}
		t.Fatalf("no line with %q in %q", target, out)
		return ""
	}
	r := &Result{E2ETxPerS: 18615.561870015365, CeilingTxPerS: 37476.958931417976, NaiveTxPerS: 305.4480951620598,
		HistoryOnlyTxPerS: 20551.371213371807, CeilingAgainTxPerS: 44352.93842859733, N: 200_000, Durable: true}
	var out strings.Builder
	summary(&bench{progress: &out}, r, []string{"throughput"})
	l := line(out.String(), "target ≥ 50%")
	require.Contains(t, l, "MISSED", "18,616 tx/s is 49.67% of 37,477")
	require.Contains(t, l, "e2e/ceiling = 49.7%", "the figure the verdict is of")

	r = &Result{PeakRSSMB: 150.3, PeakHeapMB: 60, MemN: 1_000_000, Memory: []memPoint{
		{Transactions: 100_000, PeakRSSMB: 140, IntervalPeakRSSMB: 140, ElapsedS: 1},
		{Transactions: 1_000_000, PeakRSSMB: 150.3, IntervalPeakRSSMB: 150.3, ElapsedS: 10}}}
	out.Reset()
	summary(&bench{progress: &out}, r, []string{"memory"})
	l = line(out.String(), "target ≤ 150 MB")
	require.Contains(t, l, "MISSED")
	require.Contains(t, l, "peak RSS 150.3 MB", "the figure the verdict is of")
}
