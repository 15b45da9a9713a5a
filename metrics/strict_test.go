package metrics_test

import (
	"context"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/stretchr/testify/require"
)

// family is one metric family of a scrape, as strictParse reads it.
type family struct {
	typ, help string
	samples   []strictSample
}

type strictSample struct {
	name   string // with _bucket, _sum or _count for a histogram
	labels map[string]string
	value  float64
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// strictParse reads body as the Prometheus text format 0.0.4 and fails the
// test on anything a strict reader refuses: a HELP or TYPE line twice, or
// after a sample of its family; a family's samples not together; a label
// value with a raw newline or an escape other than \\, \" and \n; a value
// that is not a float; a repeated series.
func strictParse(t *testing.T, body string) map[string]*family {
	t.Helper()
	require.True(t, strings.HasSuffix(body, "\n"), "the last line ends with a newline")
	fams := map[string]*family{}
	var order []string // families in the order their lines appear
	seen := map[string]bool{}
	current := ""
	enter := func(name string, line string) *family {
		if name != current {
			require.False(t, slices.Contains(order, name), "lines of family %s are not together: %q", name, line)
			order = append(order, name)
			current = name
		}
		f := fams[name]
		if f == nil {
			f = &family{}
			fams[name] = f
		}
		return f
	}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			kw, rest, _ := strings.Cut(rest, " ")
			name, text, _ := strings.Cut(rest, " ")
			switch kw {
			case "HELP":
				require.Regexp(t, metricName, name, line)
				f := enter(name, line)
				require.Empty(t, f.help, "HELP twice for %s", name)
				require.Empty(t, f.samples, "HELP after a sample of %s", name)
				require.NotEmpty(t, text, line)
				require.NotRegexp(t, `\\[^\\n]`, strings.ReplaceAll(text, `\\`, ""), "HELP escapes only \\\\ and \\n: %q", line)
				f.help = text
			case "TYPE":
				require.Regexp(t, metricName, name, line)
				f := enter(name, line)
				require.Empty(t, f.typ, "TYPE twice for %s", name)
				require.Empty(t, f.samples, "TYPE after a sample of %s", name)
				require.Contains(t, []string{"counter", "gauge", "histogram", "summary", "untyped"}, text, line)
				f.typ = text
			default:
				t.Fatalf("unknown comment line %q", line)
			}
			continue
		}
		s := parseSample(t, line)
		fname := s.name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(s.name, suffix); ok && fams[base] != nil && fams[base].typ == "histogram" {
				fname = base
			}
		}
		f := enter(fname, line)
		require.NotEmpty(t, f.typ, "sample before the TYPE of its family: %q", line)
		key := s.name + "|" + labelKey(s.labels)
		require.False(t, seen[key], "series twice: %q", line)
		seen[key] = true
		f.samples = append(f.samples, s)
	}
	for name, f := range fams {
		require.NotEmpty(t, f.samples, "family %s without samples", name)
		require.NotEmpty(t, f.help, "family %s without HELP", name)
	}
	return fams
}

func labelKey(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(mapKeys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// parseSample reads one sample line character by character.
func parseSample(t *testing.T, line string) strictSample {
	t.Helper()
	s := strictSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	require.Positive(t, i, "not a sample line: %q", line)
	s.name = line[:i]
	require.Regexp(t, metricName, s.name, line)
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if rest != "" && rest[0] == '}' {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			require.Positive(t, eq, "bad labels in %q", line)
			name := rest[:eq]
			require.Regexp(t, labelName, name, line)
			require.NotContains(t, s.labels, name, "label twice in %q", line)
			rest = rest[eq+2:]
			var v strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '"' {
					rest, closed = rest[j+1:], true
					break
				}
				if c == '\n' {
					t.Fatalf("raw newline in a label value: %q", line)
				}
				if c == '\\' {
					require.Less(t, j+1, len(rest), line)
					j++
					switch rest[j] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						t.Fatalf("escape \\%c in a label value: %q", rest[j], line)
					}
					continue
				}
				v.WriteByte(c)
			}
			require.True(t, closed, "unterminated label value in %q", line)
			s.labels[name] = v.String()
			if rest != "" && rest[0] == ',' {
				rest = rest[1:]
			}
		}
	}
	value, ok := strings.CutPrefix(rest, " ")
	require.True(t, ok, "no blank before the value: %q", line)
	require.NotContains(t, value, " ", "a timestamp or garbage after the value: %q", line)
	v, err := strconv.ParseFloat(value, 64)
	require.NoError(t, err, line)
	s.value = v
	return s
}

// checkValues checks what the families say: no NaN; counters and
// histograms not negative, counters named _total; histogram buckets in
// increasing le, cumulative, +Inf last and equal to _count, and _sum there.
func checkValues(t *testing.T, fams map[string]*family) {
	t.Helper()
	for name, f := range fams {
		for _, s := range f.samples {
			require.False(t, math.IsNaN(s.value), "%s is NaN", s.name)
		}
		switch f.typ {
		case "counter":
			require.True(t, strings.HasSuffix(name, "_total"), "counter %s without _total", name)
			for _, s := range f.samples {
				require.GreaterOrEqual(t, s.value, 0.0, "%s%v", s.name, s.labels)
			}
		case "histogram":
			var les []float64
			var buckets []float64
			var count, sum *float64
			for _, s := range f.samples {
				switch s.name {
				case name + "_bucket":
					le, err := strconv.ParseFloat(s.labels["le"], 64)
					require.NoError(t, err, "le of %v", s.labels)
					les = append(les, le)
					buckets = append(buckets, s.value)
				case name + "_count":
					v := s.value
					count = &v
				case name + "_sum":
					v := s.value
					sum = &v
				default:
					t.Fatalf("sample %s in histogram %s", s.name, name)
				}
			}
			require.NotNil(t, count, "%s_count", name)
			require.NotNil(t, sum, "%s_sum", name)
			require.NotEmpty(t, les)
			require.True(t, math.IsInf(les[len(les)-1], 1), "the last bucket of %s is +Inf", name)
			require.True(t, slices.IsSorted(les), "buckets of %s in increasing le: %v", name, les)
			require.Equal(t, len(les), len(slices.Compact(slices.Clone(les))), "repeated le in %s", name)
			require.True(t, slices.IsSorted(buckets), "buckets of %s cumulative: %v", name, buckets)
			require.Equal(t, *count, buckets[len(buckets)-1], "+Inf bucket of %s equals _count", name)
		}
	}
}

// values returns the samples of fams by name and labels.
func values(fams map[string]*family) map[string]float64 {
	out := map[string]float64{}
	for _, f := range fams {
		for _, s := range f.samples {
			out[s.name+"{"+labelKey(s.labels)+"}"] = s.value
		}
	}
	return out
}

// TestExpositionStrict: a scrape with every option and awkward label
// values reads under a strict reader of the text format, and its
// counters never go down from one scrape to the next.
func TestExpositionStrict(t *testing.T) {
	clk := &clock{t: t0}
	hist := metrics.NewLatencyHistogram(0.5, 0.01, 0.01, 2)
	stats := sampleStats()
	stats.RecordTimes["new\nline"] = t0.Add(-time.Minute)
	stats.Errors["odd kind"] = 2
	h := metrics.Handler(func() ingest.Stats { return stats }, metrics.Options{Now: clk.Now, Latency: hist,
		LedgerEndLag: func(context.Context) (int64, error) { return 3, nil }})

	scrape := func() map[string]float64 {
		code, hdr, body := get(t, h, "/metrics")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, metrics.ContentType, hdr.Get("Content-Type"))
		fams := strictParse(t, body)
		checkValues(t, fams)
		return values(fams)
	}
	first := scrape()
	require.InDelta(t, float64(t0.Add(-time.Minute).Unix()), first["txhistory_record_time_seconds{synchronizer=new\nline}"], 1e-6)
	require.InDelta(t, float64(t0.Add(-time.Hour).Unix()), first[`txhistory_record_time_seconds{synchronizer=odd"sync\name}`], 1e-6)
	require.Equal(t, 0.0, first["txhistory_batch_latency_seconds_count{}"])

	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond, time.Second, time.Hour} {
		hist.ObserveDuration(d)
	}
	stats.Transactions += 5
	stats.Batches++
	stats.Errors["stream"]++
	clk.t = clk.t.Add(time.Second)
	second := scrape()
	require.Equal(t, map[string]float64{
		"txhistory_batch_latency_seconds_bucket{le=0.01}": 2,
		"txhistory_batch_latency_seconds_bucket{le=0.5}":  2,
		"txhistory_batch_latency_seconds_bucket{le=2}":    3,
		"txhistory_batch_latency_seconds_bucket{le=+Inf}": 4,
		"txhistory_batch_latency_seconds_count{}":         4,
	}, filterPrefix(second, "txhistory_batch_latency_seconds_bucket", "txhistory_batch_latency_seconds_count"))
	for k, v := range first {
		if strings.Contains(k, "_total") || strings.Contains(k, "_bucket") || strings.Contains(k, "_count") {
			require.GreaterOrEqual(t, second[k], v, "counter %s went down", k)
		}
	}
	require.Equal(t, 1005.0, second["txhistory_transactions_total{}"])
	require.Equal(t, 4.0, second["txhistory_errors_total{kind=stream}"])
	require.Equal(t, 2.0, second["txhistory_errors_total{kind=odd kind}"])
}

func filterPrefix(m map[string]float64, prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}
