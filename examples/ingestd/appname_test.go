package main

import (
	"os"
	"syscall"
	"testing"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// TestSessionsNamedTxhistoryIngestd: ingestd's sessions, the one holding
// the ingestion lock among them, show as "txhistory-ingestd" in
// pg_stat_activity, so that an operator can tell them from the exchange's
// own sessions on the same database.
func TestSessionsNamedTxhistoryIngestd(t *testing.T) {
	t.Setenv("PGAPPNAME", "")
	p, dsn, db := demoLedger(t, 20)
	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn,
		"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_METRICS_ADDR": ""}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-progress", "1h"}, env, logs, sigs)
	defer func() {
		sigs <- syscall.SIGTERM
		require.Equal(t, 0, <-code, logs.String())
	}()
	waitIngested(t, db, p, logs)

	var lockHolders []string
	require.NoError(t, db.Select(&lockHolders, `
		SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1954048359 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`))
	require.Equal(t, []string{"txhistory-ingestd"}, lockHolders, "the ingestion lock's session:\n%s", logs.String())
}
