package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

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
	logStartupWaitEvery(t, 300*time.Millisecond)

	code, sigs, logs, closeHost := daemonOnHungHost(t, "pw", "-migrate")
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
