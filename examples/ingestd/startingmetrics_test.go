package main

import (
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// While ingestd waits for its database at start, /metrics answers (the
// scrape succeeds, so no target-down alert fires) and must carry
// txhistory_healthy as /healthz answers: 1 for the first -max-silence,
// 0 after it. Without it the suggested page (txhistory_healthy == 0 for
// 5m) never fires for a daemon that never gets its database.
func TestMetricsSayUnhealthyWhileWaitingForTheDatabase(t *testing.T) {
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

	up := func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
	require.Eventually(t, up, 5*time.Second, 20*time.Millisecond, logs.String())
	v, ok := scrape(t, addr, "txhistory_healthy")
	require.True(t, ok, "no txhistory_healthy while waiting for the database")
	require.Equal(t, 1.0, v, "txhistory_healthy during the first -max-silence")

	require.Eventually(t, func() bool { v, ok = scrape(t, addr, "txhistory_healthy"); return ok && v == 0 }, 10*time.Second, 50*time.Millisecond,
		"txhistory_healthy not 0 after -max-silence waiting for the database (present %v, %v)", ok, v)

	sigs <- syscall.SIGTERM
	select {
	case c := <-code:
		require.Equal(t, 0, c, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", logs.String())
	}
}
