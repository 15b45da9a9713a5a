package main

import (
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProgressWhileTheDatabaseIsDownIsNotTailing: the database goes away
// while transactions wait to be committed. The Ingester backs off and
// retries (Stats.State "retrying"), committing nothing, while the
// participant answers the progress line's ledger end call. The progress
// lines said "ingestd: catching up" (or "tailing" on a quiet ledger) at
// INFO every interval, the lines an operator reads as "ingesting"; they
// must say that nothing commits until the fault clears, at WARN.
func TestProgressWhileTheDatabaseIsDownIsNotTailing(t *testing.T) {
	p, dsn, db := demoLedger(t, 5)
	u, err := url.Parse(dsn)
	require.NoError(t, err, "pgtest DSN not a URL")
	cp := newCutProxy(t, u.Host)
	u.Host = cp.lis.Addr().String()

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: u.String(), "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-migrate", "-metrics-addr", "127.0.0.1:0", "-progress", "100ms"}, env, logs, sigs)
	waitReady(t, code, ready, logs)
	waitIngested(t, db, p, logs)

	// The database goes away, and new transactions arrive.
	cp.down.Store(true)
	cp.cut()
	mark := len(logs.String())
	_, err = p.Append(demoTxs(demoParty, 5, 3)...)
	require.NoError(t, err)
	if !assert.Eventually(t, func() bool {
		return strings.Count(logs.String()[mark:], `"msg":"ingestd: retrying`) >= 3
	}, 30*time.Second, 20*time.Millisecond) {
		t.Fatalf("no progress line says it is retrying while the database is down:\n%s", logs.String()[mark:])
	}

	// Back: it commits them, and says so again.
	cp.down.Store(false)
	waitIngested(t, db, p, logs)
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())

	out := logs.String()[mark:]
	var retrying int
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"msg":"ingestd: retrying`) {
			continue
		}
		retrying++
		require.Contains(t, line, `"level":"WARN"`, line)
		require.Contains(t, line, `"errors":{`, "a retrying line without the fault counts: %s", line)
	}
	require.GreaterOrEqual(t, retrying, 3)
	// While it was down, no line claimed progress: every progress line
	// between the first retrying one and the last is a retrying one.
	first := strings.Index(out, `"msg":"ingestd: retrying`)
	last := strings.LastIndex(out, `"msg":"ingestd: retrying`)
	for _, line := range strings.Split(out[first:last], "\n") {
		require.NotContains(t, line, `"msg":"ingestd: tailing"`, "a tailing line while retrying:\n%s", out)
		require.NotContains(t, line, `"msg":"ingestd: catching up"`, "a catching-up line while retrying:\n%s", out)
	}
}
