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
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-metrics-addr", addr, "-max-silence", "1500ms"}, env, logs, sigs)

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var status int
	var body string
	require.Eventually(t, func() bool { status, body = get("/healthz"); return status != 0 }, 5*time.Second, 20*time.Millisecond,
		"/healthz not answering while the database is down: %s\n%s", body, logs.String())
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "waiting for the database")
	st, _ := get("/metrics")
	require.Equal(t, http.StatusOK, st)

	require.Eventually(t, func() bool { status, body = get("/healthz"); return status == http.StatusServiceUnavailable }, 10*time.Second, 50*time.Millisecond,
		"still %d after -max-silence: %s", status, body)
	require.True(t, strings.Contains(body, "not ingesting after"), body)
	require.NotContains(t, body, "pw")

	sigs <- syscall.SIGTERM
	select {
	case c := <-code:
		require.Equal(t, 0, c, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", logs.String())
	}
}
