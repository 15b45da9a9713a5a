package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchmarksVerdictsCountEveryRun: BENCHMARKS.md's "Targets" table
// gives each target a verdict, and its "Figures" section lists every full
// run of the current stops (the "nineteen runs" table). A verdict must
// hold for all of those runs: "met" only if every run met the target,
// "missed" only if none did, and otherwise say in how many of them it was
// met ("met in N of M"), so that the runs after the table's columns (the
// latest code's) count as much as the first ten.
func TestBenchmarksVerdictsCountEveryRun(t *testing.T) {
	data, err := os.ReadFile("../../BENCHMARKS.md")
	require.NoError(t, err)
	doc := string(data)
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 64)
		require.NoError(t, err, "number %q", s)
		return v
	}
	cells := func(line string) []string {
		c := strings.Split(strings.Trim(line, "| "), " | ")
		for i := range c {
			c[i] = strings.TrimSpace(c[i])
		}
		return c
	}

	// The runs: | run | e2e | History alone | ceiling | again | e2e / ceiling (again) | naive | peak RSS ... (rule) | tail p50 / p99 / max | CPU |
	_, runs, ok := strings.Cut(doc, "| run | e2e (tx/s) | History alone |")
	require.True(t, ok)
	runs, _, _ = strings.Cut(runs, "\n\n")
	pct := regexp.MustCompile(`^([\d.]+)%`)
	ratio := regexp.MustCompile(`\(([\d.]+)×\)`)
	rss := regexp.MustCompile(`^([\d.]+) MB, [\d.]+ → ([\d.]+) \(≤ ([\d.]+)\)`)
	tail := regexp.MustCompile(`^[\d.]+ / ([\d.]+) /`)
	met := map[string]int{}
	n := 0
	for _, line := range strings.Split(runs, "\n")[2:] {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		c := cells(line)
		require.Len(t, c, 10, "row %q", line)
		n++
		if num(c[1]) >= 20_000 {
			met["20k"]++
		}
		if m := pct.FindStringSubmatch(c[5]); m != nil && num(m[1]) >= 50 {
			met["ceiling"]++
		}
		if m := ratio.FindStringSubmatch(c[6]); m != nil && num(m[1]) >= 10 {
			met["naive"]++
		}
		if m := rss.FindStringSubmatch(c[7]); m != nil && num(m[1]) <= 150 && num(m[2]) <= num(m[3]) {
			met["rss"]++
		}
		if m := tail.FindStringSubmatch(c[8]); m != nil && num(m[1]) <= 50 {
			met["tail"]++
		}
	}
	require.GreaterOrEqual(t, n, 10)

	_, targets, ok := strings.Cut(doc, "## Targets")
	require.True(t, ok)
	targets, _, _ = strings.Cut(targets, "\n## ")
	for key, prefix := range map[string]string{
		"naive": "| e2e ≥ 10× naive |", "ceiling": "| e2e ≥ 50% of the stream-only ceiling |",
		"20k": "| ≥ 20,000 tx/s end-to-end |", "rss": "| RSS ≤ 150 MB and flat", "tail": "| tailing p99 ≤ 50 ms",
	} {
		i := strings.Index(targets, prefix)
		require.GreaterOrEqual(t, i, 0, prefix)
		line, _, _ := strings.Cut(targets[i:], "\n")
		c := cells(line)
		verdict := c[len(c)-1]
		switch met[key] {
		case n:
			assert.Equal(t, "**met**", verdict, "%s: met in all %d runs", prefix, n)
		case 0:
			assert.Equal(t, "**missed**", verdict, "%s: missed in all %d runs", prefix, n)
		default:
			assert.Contains(t, verdict, fmt.Sprintf("met in %d of %d", met[key], n), "%s", prefix)
		}
	}
}
