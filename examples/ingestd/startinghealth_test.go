package main

import (
	"io"
	"net"
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

// While ingestd waits for its database at start (PostgreSQL still coming
// up), /healthz answers: 200 "starting" for the first -max-silence, as
// docs/OPERATIONS.md says, 503 after it. It used to listen only once
// ingestion started: a liveness probe met a refused connection and the
// pod was restarted while it waited.
func TestHealthzAnswersWhileWaitingForTheDatabase(t *testing.T) {
	d := startWaitingForTheDatabase(t)
	var status int
	var body string
	require.Eventually(t, func() bool { status, body = d.get("/healthz"); return status != 0 }, 5*time.Second, 20*time.Millisecond,
		"/healthz not answering while the database is down: %s\n%s", body, d.logs.String())
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "waiting for the database")
	st, _ := d.get("/metrics")
	require.Equal(t, http.StatusOK, st)

	require.Eventually(t, func() bool { status, body = d.get("/healthz"); return status == http.StatusServiceUnavailable }, 10*time.Second, 50*time.Millisecond,
		"still %d after -max-silence: %s", status, body)
	require.True(t, strings.Contains(body, "not ingesting after"), body)
	require.NotContains(t, body, "pw")
	d.stop()
}

// waitingDaemon is ingestd started (-max-silence 1.5s) against a database
// port nothing answers on, waiting for it.
type waitingDaemon struct {
	t    *testing.T
	addr string // of /metrics and /healthz
	logs *syncbuf.Buffer
	sigs chan os.Signal
	code <-chan int
}

func startWaitingForTheDatabase(t *testing.T) *waitingDaemon {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	dead, err := net.Listen("tcp", "127.0.0.1:0") // a database port nothing answers on
	require.NoError(t, err)
	dbAddr := dead.Addr().String()
	require.NoError(t, dead.Close())
	require.NoError(t, lis.Close())

	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: demoParty,
		conn.EnvDSN: "postgres://u:pw@" + dbAddr + "/x?sslmode=disable&connect_timeout=1", "TXHISTORY_PLAINTEXT": "true"}
	d := &waitingDaemon{t: t, addr: addr, logs: &syncbuf.Buffer{}, sigs: make(chan os.Signal, 1)}
	d.code, _ = runDaemon([]string{"-metrics-addr", addr, "-max-silence", "1500ms"}, env, d.logs, d.sigs)
	return d
}

// get returns the status and body of path, status 0 if nothing answered.
func (d *waitingDaemon) get(path string) (int, string) {
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stop sends SIGTERM and requires exit status 0.
func (d *waitingDaemon) stop() {
	d.t.Helper()
	d.sigs <- syscall.SIGTERM
	select {
	case c := <-d.code:
		require.Equal(d.t, 0, c, d.logs.String())
	case <-time.After(20 * time.Second):
		d.t.Fatalf("no exit after SIGTERM:\n%s", d.logs.String())
	}
}
