package metrics_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/metrics"
	"github.com/stretchr/testify/require"
)

// docSection returns the text of docs/OPERATIONS.md's "## title" section.
func docSection(t *testing.T, title string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "OPERATIONS.md"))
	require.NoError(t, err)
	text := string(b)
	start := strings.Index(text, "\n## "+title+"\n")
	require.GreaterOrEqual(t, start, 0, "docs/OPERATIONS.md has no section %q", title)
	text = text[start+1:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	return text
}

// exposed returns the metric families (name -> TYPE) Handler exposes with
// every option that adds one, and the samples' label names by family.
func exposed(t *testing.T) (map[string]string, map[string][]string) {
	t.Helper()
	clk := &clock{t: t0}
	hist := metrics.NewLatencyHistogram()
	hist.Observe(sampleStats())
	h := metrics.Handler(sampleStats, metrics.Options{Now: clk.Now, Latency: hist,
		LedgerEndLag: func(context.Context) (int64, error) { return 66, nil }})
	_, _, body := get(t, h, "/metrics")
	parse(t, body) // well-formed
	types := map[string]string{}
	labels := map[string][]string{}
	labelName := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	for _, line := range strings.Split(body, "\n") {
		if m := typeLine.FindStringSubmatch(line); m != nil {
			types[m[1]] = m[2]
			continue
		}
		if m := sampleLine.FindStringSubmatch(line); m != nil && m[2] != "" {
			family := m[1]
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if f, ok := strings.CutSuffix(family, suffix); ok && types[f] == "histogram" {
					family = f
				}
			}
			for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
				if l[1] != "le" && !slices.Contains(labels[family], l[1]) {
					labels[family] = append(labels[family], l[1])
				}
			}
		}
	}
	return types, labels
}

// TestOperationsMetricsTable: the metrics table of docs/OPERATIONS.md names
// every metric Handler exposes, with its type and labels, and nothing
// else; the suggested alerts use only metrics that exist; the error kinds
// it lists are metrics.ErrorKinds.
func TestOperationsMetricsTable(t *testing.T) {
	text := docSection(t, "Metrics")
	types, labels := exposed(t)

	row := regexp.MustCompile("(?m)^\\| `(txhistory_[a-z_]+)(?:\\{([a-z_,]+)\\})?` \\| (gauge|counter|histogram) \\|")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(text, -1) {
		name, lbls, typ := m[1], m[2], m[3]
		documented[name] = true
		require.Contains(t, types, name, "docs/OPERATIONS.md documents %s, which Handler does not expose", name)
		require.Equal(t, types[name], typ, "the type of %s", name)
		var want []string
		if lbls != "" {
			want = strings.Split(lbls, ",")
		}
		require.ElementsMatch(t, want, labels[name], "the labels of %s", name)
	}
	for name := range types {
		require.True(t, documented[name], "Handler exposes %s, which the metrics table of docs/OPERATIONS.md does not list", name)
	}

	start := strings.Index(text, "Suggested alerts:")
	require.GreaterOrEqual(t, start, 0)
	alerts := text[start:]
	open := strings.Index(alerts, "```\n")
	require.GreaterOrEqual(t, open, 0, "the alerts' code block")
	alerts = alerts[open+4:]
	alerts = alerts[:strings.Index(alerts, "\n```")]
	used := regexp.MustCompile(`txhistory_[a-z_]+`).FindAllString(alerts, -1)
	require.NotEmpty(t, used)
	for _, name := range used {
		family := name
		if f, ok := strings.CutSuffix(name, "_bucket"); ok && types[f] == "histogram" {
			family = f
		}
		require.Contains(t, types, family, "a suggested alert uses %s, which Handler does not expose", name)
	}
	for _, m := range regexp.MustCompile(`kind=~"([a-z|]+)"`).FindAllStringSubmatch(alerts, -1) {
		for _, k := range strings.Split(m[1], "|") {
			require.Contains(t, metrics.ErrorKinds, k, "an alert's error kind")
		}
	}

	kinds := regexp.MustCompile("(?m)^\\| `txhistory_errors_total\\{kind\\}` \\| counter \\| faults by kind: (.*) \\|$").FindStringSubmatch(text)
	require.NotNil(t, kinds, "the errors_total row lists the kinds")
	var doc []string
	for _, k := range strings.Split(kinds[1], ", ") {
		doc = append(doc, strings.Trim(k, "`"))
	}
	require.Equal(t, metrics.ErrorKinds, doc)

	// The defaults the section states.
	require.Contains(t, text, "(default 5 min)")
	require.Equal(t, 5*time.Minute, metrics.MaxSilenceDefault)
}

// TestPackageDocMetrics: the package documentation's list of metrics is
// what Handler exposes, with the types and labels.
func TestPackageDocMetrics(t *testing.T) {
	b, err := os.ReadFile("metrics.go")
	require.NoError(t, err)
	types, labels := exposed(t)
	line := regexp.MustCompile(`(?m)^//\t(txhistory_[a-z_]+)(?:\{([a-z_,]+)\})?\s+(gauge|counter|histogram)\b`)
	listed := map[string]bool{}
	for _, m := range line.FindAllStringSubmatch(string(b), -1) {
		name, lbls, typ := m[1], m[2], m[3]
		listed[name] = true
		require.Equal(t, types[name], typ, "package metrics' documentation: the type of %s", name)
		var want []string
		if lbls != "" {
			want = strings.Split(lbls, ",")
		}
		require.ElementsMatch(t, want, labels[name], "package metrics' documentation: the labels of %s", name)
	}
	for name := range types {
		require.True(t, listed[name], "package metrics' documentation does not list %s", name)
	}
}

// TestOperationsEmbeddingFeedsTheHistogram: the recipe docs/OPERATIONS.md
// gives embedding services for "the same" /metrics as ingestd passes a
// histogram hist as Options.Latency; it must also say where hist comes
// from and that the Ingester feeds it (ingest.Config.OnCommit =
// hist.Observe, as ingestd and TestMetricsOfRunningIngester do). A
// histogram nobody feeds is exposed with a count of zero for ever, and the
// suggested batch latency alert can never fire.
func TestOperationsEmbeddingFeedsTheHistogram(t *testing.T) {
	text := strings.Join(strings.Fields(docSection(t, "Metrics")), " ")
	start := strings.Index(text, "Embedding services")
	require.GreaterOrEqual(t, start, 0, "the Metrics section's recipe for embedding services")
	recipe := text[start:]
	recipe = recipe[:strings.Index(recipe, "| metric |")]
	require.Contains(t, recipe, "Latency: hist", "the recipe passes a latency histogram")
	for _, s := range []string{"metrics.NewLatencyHistogram()", "OnCommit", "hist.Observe"} {
		require.Contains(t, recipe, s, "docs/OPERATIONS.md, embedding services' metrics: the recipe passes Latency: hist "+
			"but does not say how hist is made and fed: %q", recipe)
	}
}
