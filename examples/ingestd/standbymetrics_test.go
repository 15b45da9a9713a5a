package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// scrape returns the value of an unlabelled sample of /metrics at addr
// and whether it is there.
func scrape(t *testing.T, addr, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, line)
			return f, true
		}
	}
	return 0, false
}

// TestStandbyMetricsMatchTheStoredCheckpoint: a standby ingestd (waiting
// for the active one's lock, as docs/OPERATIONS.md suggests running) serves
// txhistory_ledger_end_lag measured from the stored checkpoint, so its
// txhistory_checkpoint_offset must be that checkpoint too. At 0 it never
// moves, and the suggested stall alert (lag > 1000 and no movement of
// checkpoint_offset for 10m) pages for the standby while the active
// instance catches up a backlog.
func TestStandbyMetricsMatchTheStoredCheckpoint(t *testing.T) {
	p, dsn, db := demoLedger(t, 50)
	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}

	// A first instance ingests the ledger, then stops.
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "1h"}, env, logs, sigs)
	waitReady(t, code, ready, logs)
	waitIngested(t, db, p, logs)
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
	stored := p.LedgerEnd()

	// The active instance holds the lock; a second one is its standby.
	ctx := context.Background()
	active, err := db.Conn(ctx)
	require.NoError(t, err)
	defer active.Close()
	_, err = active.ExecContext(ctx, `SELECT pg_advisory_lock(1954048359, hashtext('txhistory'))`) // lockClass "txig"
	require.NoError(t, err)
	_, err = p.Append(demoTxs(demoParty, 50, 30)...) // the active instance has these to ingest
	require.NoError(t, err)

	logs = &syncbuf.Buffer{}
	code, ready = runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "1h"}, env, logs, sigs)
	var addr string
	select {
	case addr = <-ready:
	case c := <-code:
		t.Fatalf("the standby exited %d:\n%s", c, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("not ready:\n%s", logs.String())
	}
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "waiting for it to stop") }, 20*time.Second, 20*time.Millisecond)

	lag, ok := scrape(t, addr, "txhistory_ledger_end_lag")
	require.True(t, ok, "no txhistory_ledger_end_lag")
	offset, ok := scrape(t, addr, "txhistory_checkpoint_offset")
	require.True(t, ok, "no txhistory_checkpoint_offset")
	require.Equal(t, float64(p.LedgerEnd()-stored), lag, "the standby's lag is not the stored checkpoint's")
	require.Equal(t, float64(stored), offset,
		"the standby's txhistory_checkpoint_offset is not the stored checkpoint (lag %v is measured from %d): the stall alert would see it stand still", lag, stored)

	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}

// TestStandbyProgressLineSaysStandby: the progress line of a standby
// (waiting for the active instance's lock) says so, not "tailing" or
// "catching up" about a checkpoint it does not move, and names no empty
// update id while nothing is ingested.
func TestStandbyProgressLineSaysStandby(t *testing.T) {
	p, dsn, db := demoLedger(t, 20)
	ctx := context.Background()
	active, err := db.Conn(ctx)
	require.NoError(t, err)
	defer active.Close()
	_, err = active.ExecContext(ctx, `SELECT pg_advisory_lock(1954048359, hashtext('txhistory'))`) // lockClass "txig"
	require.NoError(t, err)

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "100ms"}, env, logs, sigs)
	waitReady(t, code, ready, logs)
	// The lines from its first failed lock attempt on: a tick before it
	// (the daemon starting, not yet a standby) may say anything.
	standby := func() string {
		_, after, _ := strings.Cut(logs.String(), "waiting for it to stop")
		return after
	}
	require.Eventually(t, func() bool { return strings.Count(standby(), `"msg":"ingestd: standby`) >= 3 }, 20*time.Second, 20*time.Millisecond,
		"no standby progress lines")
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
	out := standby()
	require.NotContains(t, out, `"msg":"ingestd: catching up"`, "the standby says it is catching up")
	require.NotContains(t, out, `"msg":"ingestd: tailing"`, "the standby says it is tailing")
	// Nothing is ingested yet: the lines name no update id rather than an
	// empty one.
	require.NotContains(t, out, `"update_id":""`, "a progress line names an empty update id")
}
