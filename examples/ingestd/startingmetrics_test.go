package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// While ingestd waits for its database at start, /metrics answers (the
// scrape succeeds, so no target-down alert fires) and must carry
// txhistory_healthy as /healthz answers: 1 for the first -max-silence,
// 0 after it. Without it the suggested page (txhistory_healthy == 0 for
// 5m) never fires for a daemon that never gets its database.
func TestMetricsSayUnhealthyWhileWaitingForTheDatabase(t *testing.T) {
	d := startWaitingForTheDatabase(t)
	require.Eventually(t, func() bool { st, _ := d.get("/healthz"); return st != 0 }, 5*time.Second, 20*time.Millisecond, d.logs.String())
	v, ok := scrape(t, d.addr, "txhistory_healthy")
	require.True(t, ok, "no txhistory_healthy while waiting for the database")
	require.Equal(t, 1.0, v, "txhistory_healthy during the first -max-silence")

	require.Eventually(t, func() bool { v, ok = scrape(t, d.addr, "txhistory_healthy"); return ok && v == 0 }, 10*time.Second, 50*time.Millisecond,
		"txhistory_healthy not 0 after -max-silence waiting for the database (present %v, %v)", ok, v)
	d.stop()
}
