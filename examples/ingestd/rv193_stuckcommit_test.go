package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// TestProgressWhileABatchWaitsForALockIsNotCatchingUp: ingestd's batch
// waits in the database for a lock (here the schema's migration lock, as
// the migration job holds it while a migration waits behind a report's
// open transaction; an operator's session holding a row's lock stops a
// batch the same way). Nothing is retried, nothing commits, /healthz
// answers 503 once -max-silence passes; the progress lines said "ingestd:
// catching up" at INFO every interval, tx_per_s 0, for as long as the lock
// was held, the line an operator reads as "ingesting". Past -max-silence
// without a commit while behind, they must say that nothing commits, at
// WARN, and where to look.
func TestProgressWhileABatchWaitsForALockIsNotCatchingUp(t *testing.T) {
	p, dsn, db := demoLedger(t, 5)
	require.NoError(t, schema.Migrate(context.Background(), db))
	release := holdMigrationLock(t, db)

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-migrate=false", "-metrics-addr", "127.0.0.1:0", "-progress", "200ms", "-max-silence", "1s"}, env, logs, sigs)
	waitReady(t, code, ready, logs)
	time.Sleep(3 * time.Second) // the batch waits for the lock, past -max-silence

	var stuck, claims []string
	for _, line := range strings.Split(logs.String(), "\n") {
		var l struct {
			Time  time.Time
			Level string
			Msg   string
		}
		if json.Unmarshal([]byte(line), &l) != nil || !strings.HasPrefix(l.Msg, "ingestd: ") {
			continue
		}
		switch {
		case strings.Contains(l.Msg, "no commit"):
			require.Equal(t, "WARN", l.Level, line)
			stuck = append(stuck, line)
		case l.Msg == "ingestd: catching up" || l.Msg == "ingestd: tailing":
			claims = append(claims, line)
		}
	}
	require.NotEmpty(t, stuck, "no progress line says that nothing commits while the batch waits for a lock:\n%s", logs.String())
	require.Contains(t, stuck[len(stuck)-1], "pg_stat_activity", "the line does not say where to look")
	// Only the lines of the first -max-silence may claim progress.
	require.LessOrEqual(t, len(claims), 6, "%d lines say catching up or tailing while nothing commits:\n%s", len(claims), logs.String())

	// The lock released: it commits, and the lines say so again.
	release()
	waitIngested(t, db, p, logs)
	mark := len(logs.String())
	require.Eventually(t, func() bool {
		out := logs.String()[mark:]
		return strings.Contains(out, `"msg":"ingestd: tailing"`)
	}, 5*time.Second, 20*time.Millisecond, logs.String()[mark:])
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}
