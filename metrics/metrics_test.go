package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable Now.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func get(t *testing.T, h http.Handler, path string) (int, http.Header, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(body)
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$`)
	typeLine   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|histogram)$`)
	helpLine   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$`)
)

// parse checks the text exposition format line by line (every sample has a
// TYPE declared before it, every value is a number) and returns the
// samples by their full text before the value.
func parse(t *testing.T, body string) map[string]float64 {
	t.Helper()
	types := map[string]string{}
	out := map[string]float64{}
	require.True(t, strings.HasSuffix(body, "\n"))
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if m := typeLine.FindStringSubmatch(line); m != nil {
			require.NotContains(t, types, m[1], "TYPE declared twice")
			types[m[1]] = m[2]
			continue
		}
		if helpLine.MatchString(line) {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		require.NotNil(t, m, "not a sample line: %q", line)
		family := m[1]
		if _, ok := types[family]; !ok {
			family = regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(family, "")
			require.Equal(t, "histogram", types[family], "sample %q without TYPE", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		require.NoError(t, err, line)
		key := m[1] + m[2]
		require.NotContains(t, out, key, "duplicate sample")
		out[key] = v
	}
	return out
}

func sampleStats() ingest.Stats {
	return ingest.Stats{
		Offset:     1234,
		UpdateID:   "upd-1234",
		RecordTime: t0.Add(-90 * time.Second),
		RecordTimes: map[string]time.Time{
			"global-domain::1220aa": t0.Add(-30 * time.Second),
			`odd"sync\name`:         t0.Add(-time.Hour),
		},
		Transactions: 1000, Skipped: 7, Checkpoints: 40, Batches: 55, SetAside: 2,
		TxPerSecond:      812.5,
		LastBatchLatency: 42 * time.Millisecond,
		LedgerEndLag:     66,
		LedgerEndLagAt:   t0.Add(-5 * time.Second),
		Errors:           map[string]int64{"stream": 3, "database": 1},
		LastCommit:       t0.Add(-2 * time.Second),
	}
}

func TestMetricsExposition(t *testing.T) {
	clk := &clock{t: t0}
	hist := metrics.NewLatencyHistogram()
	for _, d := range []time.Duration{3 * time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond, 2 * time.Minute} {
		hist.ObserveDuration(d)
	}
	hist.Observe(sampleStats()) // 42ms
	h := metrics.Handler(sampleStats, metrics.Options{Now: clk.Now, Latency: hist})

	code, hdr, body := get(t, h, "/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, metrics.ContentType, hdr.Get("Content-Type"))
	m := parse(t, body)
	want := map[string]float64{
		"txhistory_checkpoint_offset":                                         1234,
		"txhistory_ledger_end_lag":                                            66,
		"txhistory_record_time_lag_seconds":                                   30,
		`txhistory_record_time_seconds{synchronizer="global-domain::1220aa"}`: float64(t0.Add(-30 * time.Second).Unix()),
		`txhistory_record_time_seconds{synchronizer="odd\"sync\\name"}`:       float64(t0.Add(-time.Hour).Unix()),
		"txhistory_transactions_per_second":                                   812.5,
		"txhistory_last_batch_latency_seconds":                                0.042,
		"txhistory_last_commit_timestamp_seconds":                             float64(t0.Add(-2 * time.Second).Unix()),
		"txhistory_transactions_total":                                        1000,
		"txhistory_skipped_transactions_total":                                7,
		"txhistory_set_aside_transactions_total":                              2,
		"txhistory_batches_total":                                             55,
		"txhistory_offset_checkpoints_total":                                  40,
		`txhistory_errors_total{kind="stream"}`:                               3,
		`txhistory_errors_total{kind="database"}`:                             1,
		`txhistory_errors_total{kind="auth"}`:                                 0,
		`txhistory_errors_total{kind="handler"}`:                              0,
		`txhistory_errors_total{kind="decode"}`:                               0,
		`txhistory_errors_total{kind="other"}`:                                0,
		`txhistory_batch_latency_seconds_bucket{le="0.005"}`:                  1,
		`txhistory_batch_latency_seconds_bucket{le="0.01"}`:                   2,
		`txhistory_batch_latency_seconds_bucket{le="0.025"}`:                  2,
		`txhistory_batch_latency_seconds_bucket{le="0.05"}`:                   4,
		`txhistory_batch_latency_seconds_bucket{le="60"}`:                     4,
		`txhistory_batch_latency_seconds_bucket{le="+Inf"}`:                   5,
		"txhistory_batch_latency_seconds_count":                               5,
		"txhistory_healthy":                                                   1,
	}
	for k, v := range want {
		require.Contains(t, m, k)
		require.InDelta(t, v, m[k], 1e-9, k)
	}
	require.InDelta(t, 120.095, m["txhistory_batch_latency_seconds_sum"], 1e-9)
	require.NotContains(t, m, "txhistory_ledger_reachable", "only with Options.LedgerEndLag")

	// Another namespace.
	_, _, body = get(t, metrics.Handler(sampleStats, metrics.Options{Namespace: "exchange_ingest", Now: clk.Now}), "/metrics")
	require.Contains(t, parse(t, body), "exchange_ingest_checkpoint_offset")

	code, _, _ = get(t, h, "/other")
	require.Equal(t, http.StatusNotFound, code)
}

// Without Options.LedgerEndLag the lag is what the Ingester's own calls
// found: before one succeeded it is unknown and left out, not 0 (which
// reads as "at the ledger end").
func TestLedgerEndLagUnknownIsLeftOut(t *testing.T) {
	clk := &clock{t: t0}
	never := func() ingest.Stats {
		s := sampleStats()
		s.LedgerEndLag, s.LedgerEndLagAt = 0, time.Time{}
		return s
	}
	_, _, body := get(t, metrics.Handler(never, metrics.Options{Now: clk.Now}), "/metrics")
	m := parse(t, body)
	require.Contains(t, m, "txhistory_checkpoint_offset")
	require.NotContains(t, m, "txhistory_ledger_end_lag")
	_, _, body = get(t, metrics.Handler(never, metrics.Options{Now: clk.Now}), "/healthz")
	require.Contains(t, body, `"ledger_end_lag":null`)
}

func health(t *testing.T, h http.Handler) (int, metrics.Health) {
	t.Helper()
	code, hdr, body := get(t, h, "/healthz")
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	var out metrics.Health
	require.NoError(t, json.Unmarshal([]byte(body), &out), body)
	return code, out
}

func TestHealth(t *testing.T) {
	clk := &clock{t: t0}
	stats := sampleStats()
	lag, lagErr := int64(66), error(nil)
	var checkErr error
	h := metrics.Handler(func() ingest.Stats { return stats }, metrics.Options{
		Now:          clk.Now,
		MaxSilence:   time.Minute,
		StartupGrace: 30 * time.Second,
		LedgerEndLag: func(context.Context) (int64, error) { return lag, lagErr },
		Check:        func() error { return checkErr },
	})

	// A recent commit.
	code, got := health(t, h)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", got.Status)
	require.Contains(t, got.Reason, "last commit 2s ago at offset 1234")
	require.NotNil(t, got.LedgerEndLag)
	require.Equal(t, int64(66), *got.LedgerEndLag)

	// Silent for too long while behind: unhealthy, with the reason.
	clk.t = t0.Add(10 * time.Minute)
	code, got = health(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "unhealthy", got.Status)
	require.Contains(t, got.Reason, "no commit for 10m2s")
	require.Contains(t, got.Reason, "66 offsets behind the ledger end")
	require.Contains(t, got.Reason, "database=1 stream=3")
	_, _, body := get(t, h, "/metrics")
	require.Equal(t, 0.0, parse(t, body)["txhistory_healthy"])

	// Silent but at the ledger end: waiting for updates is healthy.
	lag = 0
	code, got = health(t, h)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, got.Reason, "caught up")

	// The participant cannot be asked: the reason says so.
	lagErr = errors.New("ledger: GetLedgerEnd: Unavailable: connection refused")
	code, got = health(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, got.Reason, "ledger end is unknown: ledger: GetLedgerEnd: Unavailable")
	require.Nil(t, got.LedgerEndLag)
	_, _, body = get(t, h, "/metrics")
	m := parse(t, body)
	require.Equal(t, 0.0, m["txhistory_ledger_reachable"])
	require.NotContains(t, m, "txhistory_ledger_end_lag")

	// The daemon's own check wins over everything.
	lagErr = nil
	clk.t = t0
	checkErr = errors.New("ingester stopped: ingest: handler failed")
	code, got = health(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "ingester stopped: ingest: handler failed", got.Reason)
}

func TestHealthBeforeFirstCommit(t *testing.T) {
	clk := &clock{t: t0}
	h := metrics.Handler(func() ingest.Stats { return ingest.Stats{} }, metrics.Options{Now: clk.Now, MaxSilence: time.Minute, StartupGrace: 20 * time.Second})
	code, got := health(t, h)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, got.Reason, "starting")
	require.Nil(t, got.LastCommit)

	clk.t = t0.Add(21 * time.Second)
	code, got = health(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, got.Reason, "no commit in the 21s since start")

	// Before any commit there is no record time: no lag is made up.
	_, _, body := get(t, h, "/metrics")
	m := parse(t, body)
	require.NotContains(t, m, "txhistory_record_time_lag_seconds")
	require.NotContains(t, m, "txhistory_last_commit_timestamp_seconds")
	require.Equal(t, 0.0, m["txhistory_transactions_total"])
}

// The handler on a real Ingester tailing the fake participant.
func TestMetricsOfRunningIngester(t *testing.T) {
	const party = "treasury::1220ab"
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	require.NoError(t, err)
	defer p.Close()
	for i := range 120 {
		owner := party
		if i%4 == 0 {
			owner = "other::1220"
		}
		_, err := p.Append(&ledger.Transaction{Events: []ledger.Event{&ledger.CreatedEvent{
			ContractID: fmt.Sprintf("00c%d", i), TemplateID: ledger.MustParseIdentifier("#pkg:Mod:T"),
			CreateArguments: ledger.Record(nil, ledger.F("owner", ledger.Party(owner))),
			WitnessParties:  []string{owner}, Signatories: []string{owner},
		}}})
		require.NoError(t, err)
	}
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(context.Background(), db))
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer client.Close()
	hist := metrics.NewLatencyHistogram()
	var observed atomic.Int64 // the offset of the last batch the histogram has
	ing, err := ingest.New(db, client, ingest.Config{
		Parties: []string{party}, MaxBatchSize: 10,
		OnCommit: func(s ingest.Stats) { hist.Observe(s); observed.Store(s.Offset) },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	require.True(t, ing.Stats().LedgerEndLagAt.IsZero(), "no lag measured yet")
	done := make(chan error, 1)
	go func() { done <- ing.Run(context.Background()) }()
	defer func() { ing.Stop(); require.NoError(t, <-done) }()
	// Until OnCommit, not only the stats, has seen the last batch: Stats
	// moves before OnCommit is called.
	require.Eventually(t, func() bool { return observed.Load() == p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)

	h := metrics.Handler(ing.Stats, metrics.Options{LedgerEndLag: ing.LedgerEndLag, Latency: hist})
	_, _, body := get(t, h, "/metrics")
	m := parse(t, body)
	require.Equal(t, float64(p.LedgerEnd()), m["txhistory_checkpoint_offset"])
	require.Equal(t, 0.0, m["txhistory_ledger_end_lag"])
	require.Equal(t, 1.0, m["txhistory_ledger_reachable"])
	require.False(t, ing.Stats().LedgerEndLagAt.IsZero(), "the scrape measured the lag")
	require.Equal(t, 90.0, m["txhistory_transactions_total"])
	require.Equal(t, m["txhistory_batches_total"], m["txhistory_batch_latency_seconds_count"])
	require.Positive(t, m["txhistory_record_time_lag_seconds"])
	code, got := health(t, h)
	require.Equal(t, http.StatusOK, code, got.Reason)

	// The participant goes away: the lag is unknown, but the recent commit
	// keeps the ingester healthy.
	p.Close()
	_, _, body = get(t, h, "/metrics")
	require.Equal(t, 0.0, parse(t, body)["txhistory_ledger_reachable"])
	code, _ = health(t, h)
	require.Equal(t, http.StatusOK, code)
}
