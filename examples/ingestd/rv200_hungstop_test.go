package main

import (
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// TestMigrationWaitingForAHungDatabaseAfterSIGTERM: SIGTERM while the
// migrations' attempt waits on a host that takes connections and answers
// nothing does not end the attempt (lib/pq's start-up does not see the
// stop; OPERATIONS.md: bound it with connect_timeout), so the daemon does
// not stop and its "still waiting" lines go on, but nothing acknowledged
// the signal: the lines read as before it, and the operator (or the
// orchestrator's log) cannot tell a signal not received from one the
// daemon cannot act on. The lines now say it is stopping and what the stop
// waits for; a ping asked with the stop's cancelled context is not taken
// for the database's answer.
func TestMigrationWaitingForAHungDatabaseAfterSIGTERM(t *testing.T) {
	every := startupWaitLogEvery
	startupWaitLogEvery = 300 * time.Millisecond
	t.Cleanup(func() { startupWaitLogEvery = every })

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var held []net.Conn
	closeHost := func() {
		lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: demoParty, "TXHISTORY_PLAINTEXT": "true",
		conn.EnvDSN: "postgres://u:pw@" + lis.Addr().String() + "/x?sslmode=disable"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-migrate", "-metrics-addr", "127.0.0.1:0"}, env, logs, sigs)
	t.Cleanup(func() {
		closeHost()
		select {
		case <-code:
		case <-time.After(20 * time.Second):
			t.Errorf("no exit after SIGTERM:\n%s", logs.String())
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "still waiting for the migrations") }, 15*time.Second, 20*time.Millisecond,
		"nothing logged while the migrations wait for a database that does not answer:\n%s", logs.String())

	sigs <- syscall.SIGTERM
	time.Sleep(100 * time.Millisecond)
	mark := len(logs.String())
	time.Sleep(1500 * time.Millisecond)
	after := logs.String()[mark:]
	require.Contains(t, after, "still waiting for the migrations", "the attempt outlives SIGTERM, but its wait is no longer logged:\n%s", logs.String())
	require.NotContains(t, after, "context canceled", "the stop's cancellation is reported as the database's answer:\n%s", after)
	require.Contains(t, after, "stopping", "the lines do not say the daemon is stopping:\n%s", after)
	require.Contains(t, after, "connect_timeout", "the lines do not say what bounds the wait:\n%s", after)
}
