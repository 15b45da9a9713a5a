package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/metrics"
	"github.com/stretchr/testify/require"
)

// TestRV135UnhealthyReasonCountsFromTheDaemonsStart: a daemon that waited
// longer than -max-silence for its database, and then ingests nothing, is
// unhealthy at once (TestStartupGraceCountsFromTheDaemonsStart); the
// reason must say how long since the daemon started, as the starting
// daemon's did a moment before ("not ingesting after 2s"), not "no commit
// in the 0s since start", which contradicts the 503 it comes with.
func TestRV135UnhealthyReasonCountsFromTheDaemonsStart(t *testing.T) {
	dsn, open := closedDatabase(t)

	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: demoParty,
		conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	started := time.Now()
	code, ready := runDaemon([]string{"-migrate", "-metrics-addr", "127.0.0.1:0", "-max-silence", "1500ms"}, env, logs, sigs)
	time.Sleep(2 * time.Second) // waiting for the database, longer than -max-silence
	open.Store(true)
	var addr string
	select {
	case addr = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("not started once the database answered:\n%s", logs.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	var h metrics.Health
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, h.Reason)
	since, ok := strings.CutPrefix(h.Reason, "no commit in the ")
	require.True(t, ok, h.Reason)
	since, _, ok = strings.Cut(since, " since start")
	require.True(t, ok, h.Reason)
	d, err := time.ParseDuration(since)
	require.NoError(t, err, h.Reason)
	require.GreaterOrEqual(t, d, 1500*time.Millisecond,
		"the daemon started %s ago, more than -max-silence, and its /healthz says: %s", time.Since(started).Round(time.Millisecond), h.Reason)

	sigs <- syscall.SIGTERM
	select {
	case <-code:
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", logs.String())
	}
}
