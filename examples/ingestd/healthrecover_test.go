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
	"github.com/stretchr/testify/require"
)

// TestHealthBackAfterADatabaseFaultOnAQuietLedger: ingestd is caught up
// on a quiet ledger (nothing to commit) when PostgreSQL drops its sessions
// (a restart, a failover, pg_terminate_backend). The lock check notices,
// counts a database error and takes the lock again: ingestion is healthy.
// /healthz must answer 200 again, as docs/OPERATIONS.md has it ("nothing:
// the batch is retried whole"), not 503 until the next transaction commits
// (txhistory_healthy == 0 pages, and a liveness probe restarts the pod).
func TestHealthBackAfterADatabaseFaultOnAQuietLedger(t *testing.T) {
	p, dsn, db := demoLedger(t, 20)

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "1h", "-max-silence", "1s"}, env, logs, sigs)
	var addr string
	select {
	case addr = <-ready:
	case c := <-code:
		t.Fatalf("exited %d:\n%s", c, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("not ready:\n%s", logs.String())
	}
	healthz := func() (int, string) {
		resp, err := http.Get("http://" + addr + "/healthz")
		require.NoError(t, err)
		defer resp.Body.Close()
		var h struct{ Reason string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
		return resp.StatusCode, h.Reason
	}
	waitIngested(t, db, p, logs)
	time.Sleep(1500 * time.Millisecond) // longer than -max-silence: healthy by being caught up
	c, reason := healthz()
	require.Equal(t, http.StatusOK, c, reason)

	// PostgreSQL drops the daemon's sessions, the ingestion lock's too.
	_, err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "taking the lock again") }, 45*time.Second, 50*time.Millisecond,
		"the lock check did not notice:\n%s", logs.String())
	// It holds the lock again.
	require.Eventually(t, func() bool {
		var n int
		_ = db.Get(&n, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
		return n == 1
	}, 20*time.Second, 20*time.Millisecond, logs.String())

	deadline := time.Now().Add(5 * time.Second)
	for {
		c, reason = healthz()
		if c == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d after the daemon took the lock again and resumed, nothing to ingest: %q", c, reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}
