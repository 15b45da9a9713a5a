package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// TestNoProgressLineWhileStopping: once the daemon logged "stopping" it
// logs "stopped" (or why it could not), not "tailing" or "catching up"
// while it commits its last batch: an operator reading the log, or a
// supervisor watching it, would take the daemon for still ingesting.
func TestNoProgressLineWhileStopping(t *testing.T) {
	p, dsn, db := demoLedger(t, 20)

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "50ms"}, env, logs, sigs)
	waitReady(t, code, ready, logs)
	waitIngested(t, db, p, logs)

	// The next batch's commit waits for the checkpoint's row, which a
	// session of the test holds: the shutdown lasts until it lets go.
	ctx := context.Background()
	holder, err := db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback() }()
	_, err = holder.ExecContext(ctx, `SELECT 1 FROM txhistory.checkpoint FOR UPDATE`)
	require.NoError(t, err)
	_, err = p.Append(demoTxs(demoParty, 20, 5)...)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var waiting bool
		_ = db.Get(&waiting, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE "txhistory"."checkpoint"%')`)
		return waiting
	}, 30*time.Second, 20*time.Millisecond, "the batch's commit never waited for the checkpoint's row:\n%s", logs.String())

	sigs <- syscall.SIGTERM
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `"msg":"ingestd: stopping`) }, 10*time.Second, 10*time.Millisecond)
	// Several progress intervals pass while the commit waits.
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, holder.Rollback())
	require.Equal(t, 0, <-code, logs.String())

	_, after, _ := strings.Cut(logs.String(), `"msg":"ingestd: stopping`)
	for _, line := range strings.Split(after, "\n") {
		for _, msg := range []string{"ingestd: catching up", "ingestd: tailing", "ingestd: progress", "ingestd: standby"} {
			require.NotContains(t, line, `"msg":"`+msg, "a progress line after \"stopping\":\n%s", after)
		}
	}
	require.Contains(t, after, `"msg":"ingestd: stopped"`)
}
