package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/stretchr/testify/require"
)

// TestHealthCheckpointBeyondLedgerEndIsNotCaughtUp: the checkpoint is
// beyond the participant's ledger end (a participant restored from a
// backup, or one still catching up after a restart): the ingester waits
// (StateWaitingLedgerEnd), for ever by default, and commits nothing. A
// negative lag is not "at the ledger end": once MaxSilence has passed,
// /healthz must answer 503.
func TestHealthCheckpointBeyondLedgerEndIsNotCaughtUp(t *testing.T) {
	clk := &clock{t: t0}
	stats := sampleStats()
	stats.State = ingest.StateWaitingLedgerEnd
	stats.LastCommit = t0.Add(-30 * time.Minute)
	h := metrics.Handler(func() ingest.Stats { return stats }, metrics.Options{
		Now: clk.Now, MaxSilence: time.Minute,
		LedgerEndLag: func(context.Context) (int64, error) { return -40, nil }, // ledger end 1194, checkpoint 1234
	})
	code, got := health(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code, "healthy with the checkpoint 40 offsets beyond the ledger end: %q", got.Reason)
}

// TestHealthCaughtUpButDatabaseGone: the ledger is quiet (the checkpoint
// is at the ledger end) and the Integration DB is gone: every commit of an
// OffsetCheckpoint fails and is retried, the ingested record time stands
// still (withdrawals stop expiring), and nothing has committed for longer
// than MaxSilence. /healthz must not answer 200 "caught up".
func TestHealthCaughtUpButDatabaseGone(t *testing.T) {
	clk := &clock{t: t0}
	stats := sampleStats()
	stats.State = ingest.StateStreaming
	stats.Errors = map[string]int64{}
	h := metrics.Handler(func() ingest.Stats { return stats }, metrics.Options{
		Now: clk.Now, MaxSilence: time.Minute,
		LedgerEndLag: func(context.Context) (int64, error) { return 0, nil },
	})
	code, _ := health(t, h)
	require.Equal(t, http.StatusOK, code, "a recent commit")

	// The database goes away; the ingester retries, in vain, for ten minutes.
	for i := 1; i <= 20; i++ {
		clk.t = t0.Add(time.Duration(i) * 30 * time.Second)
		stats.Errors["database"]++
		if i%2 == 0 {
			stats.State = ingest.StateRetrying
		} else {
			stats.State = ingest.StateStreaming
		}
	}
	code, got := health(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code, "healthy while every commit fails (errors %v): %q", stats.Errors, got.Reason)

	// The database is back and an OffsetCheckpoint commits: healthy again.
	stats.LastCommit = clk.t
	code, got = health(t, h)
	require.Equal(t, http.StatusOK, code, got.Reason)
	// Quiet again, caught up, no fault since that commit: healthy.
	clk.t = clk.t.Add(10 * time.Minute)
	code, got = health(t, h)
	require.Equal(t, http.StatusOK, code, got.Reason)
	require.Contains(t, got.Reason, "caught up")
}

// TestHealthLagOneBeyondTheLedgerEndIsNotUnknown: /healthz's
// ledger_end_lag is -1 when the lag is unknown, and also when the
// checkpoint is exactly one offset beyond the participant's ledger end (a
// node restored from a backup taken one update earlier). An operator or a
// probe reading the body cannot tell the two apart; the negative lag is the
// one sign of a restored participant the body carries while a recent commit
// keeps it healthy.
func TestHealthLagOneBeyondTheLedgerEndIsNotUnknown(t *testing.T) {
	clk := &clock{t: t0}
	stats := sampleStats()
	lag, lagErr := int64(-1), error(nil)
	h := metrics.Handler(func() ingest.Stats { return stats }, metrics.Options{
		Now:          clk.Now,
		LedgerEndLag: func(context.Context) (int64, error) { return lag, lagErr },
	})
	_, _, beyond := get(t, h, "/healthz")
	lagErr = errors.New("ledger: GetLedgerEnd: Unavailable: connection refused")
	_, _, unknown := get(t, h, "/healthz")
	field := func(body string) string {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(body), &m), body)
		return string(m["ledger_end_lag"])
	}
	require.NotEqual(t, field(unknown), field(beyond), "the same ledger_end_lag for an unknown lag and a checkpoint one beyond the ledger end:\n%s%s", unknown, beyond)
}

// An Ingester whose Run has returned is not ingesting: /healthz said "ok"
// for MaxSilence after its last commit (and for ever at the ledger end)
// unless the embedder wired Options.Check to Run's return.
func TestHealthStoppedIngesterIsUnhealthy(t *testing.T) {
	clk := &clock{t: t0}
	stopped := func() ingest.Stats {
		s := sampleStats()
		s.State = ingest.StateStopped
		return s
	}
	lag := func(context.Context) (int64, error) { return 0, nil }
	for _, opts := range []metrics.Options{{Now: clk.Now}, {Now: clk.Now, LedgerEndLag: lag}} {
		code, _, body := get(t, metrics.Handler(stopped, opts), "/healthz")
		require.Equal(t, http.StatusServiceUnavailable, code, body)
		require.Contains(t, body, "Run has returned")
	}
	running := func() ingest.Stats { s := sampleStats(); s.State = ingest.StateStreaming; return s }
	code, _, body := get(t, metrics.Handler(running, metrics.Options{Now: clk.Now}), "/healthz")
	require.Equal(t, http.StatusOK, code, body)
}
