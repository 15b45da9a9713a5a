package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// TestStartupWaitForTheDatabaseDoesNotFloodTheLog: ingestd starting while
// PostgreSQL is down (a maintenance window, a failover that takes its
// time) waits for it, trying every second. It logged "ingestd: database
// not reachable for migrations, retrying" at every attempt: 60 identical
// WARN lines a minute, 3,600 over an hour's outage, where the running
// Ingester, backing off to 30 s, logs a couple a minute for the same
// fault. It still tries every second (it starts within a second of the
// database's return), but logs the first failure and then at most one line
// per startupWaitLogEvery, with the attempts so far.
func TestStartupWaitForTheDatabaseDoesNotFloodTheLog(t *testing.T) {
	dsn, open := closedDatabase(t)
	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: demoParty,
		conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-migrate", "-metrics-addr", "127.0.0.1:0"}, env, logs, sigs)

	time.Sleep(5500 * time.Millisecond) // some five attempts
	lines := strings.Count(logs.String(), "ingestd: database not reachable for migrations")
	require.NotZero(t, lines, "the wait for the database is not logged at all:\n%s", logs.String())
	require.LessOrEqual(t, lines, 2, "%d lines in 5.5 s of waiting for the database, one per attempt:\n%s", lines, logs.String())

	// Still tried every second: it starts soon after the database answers.
	open.Store(true)
	select {
	case <-ready:
	case c := <-code:
		t.Fatalf("exited %d:\n%s", c, logs.String())
	case <-time.After(5 * time.Second):
		t.Fatalf("not started within 5 s of the database's return:\n%s", logs.String())
	}
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}
