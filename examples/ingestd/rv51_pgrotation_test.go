package main

import (
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestPostgresPasswordRotatedWhileRunning: the ingestion role's password
// is rotated while the daemon runs (ALTER ROLE, the DSN file updated, the
// sessions opened with the old password still there, then terminated).
// The DSN is read only at start: the daemon stops (exit 1) at the first
// new connection the old password cannot open, and its error says so and
// what to do (it is 28P01, not a fault to wait out); a restart with the
// updated file ingests what came meanwhile. Neither password is logged.
func TestPostgresPasswordRotatedWhileRunning(t *testing.T) {
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	admin, err := sqlx.Open("postgres", srv.DSN(""))
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec(`CREATE DATABASE integration`)
	require.NoError(t, err)
	oldPW, newPW := "old-S3CRET-pw", "new-S3CRET-pw"
	_, err = admin.Exec(`CREATE ROLE ingest LOGIN PASSWORD '` + oldPW + `'`)
	require.NoError(t, err)
	_, err = admin.Exec(`GRANT ALL ON DATABASE integration TO ingest`)
	require.NoError(t, err)
	dsnOf := func(pw string) string {
		u, err := url.Parse(srv.DSN("integration"))
		require.NoError(t, err)
		u.User = url.UserPassword("ingest", pw)
		return u.String()
	}
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	require.NoError(t, os.WriteFile(dsnFile, []byte(dsnOf(oldPW)+"\n"), 0o600))

	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, 20)...)
	require.NoError(t, err)
	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSNFile: dsnFile,
		"TXHISTORY_PLAINTEXT": "true"}
	args := []string{"-metrics-addr", "127.0.0.1:0", "-progress", "100ms", "-log-level", "debug"}
	logs := &syncbuf.Buffer{}
	code, ready := runDaemon(args, env, logs, make(chan os.Signal, 1))
	waitReady(t, code, ready, logs)
	db, err := sqlx.Open("postgres", srv.DSN("integration"))
	require.NoError(t, err)
	defer db.Close()
	require.Eventually(t, func() bool {
		var off int64
		_ = db.Get(&off, `SELECT ledger_offset FROM txhistory.checkpoint`)
		return off >= 20
	}, 20*time.Second, 20*time.Millisecond, logs.String())

	// The rotation.
	_, err = admin.Exec(`ALTER ROLE ingest PASSWORD '` + newPW + `'`)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dsnFile+".new", []byte(dsnOf(newPW)+"\n"), 0o600))
	require.NoError(t, os.Rename(dsnFile+".new", dsnFile))
	_, err = admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'ingest'`)
	require.NoError(t, err)
	_, err = p.Append(demoTxs(demoParty, 20, 10)...)
	require.NoError(t, err)

	c, msg := stoppedBy(t, code, logs)
	require.Equal(t, 1, c, logs.String())
	require.Contains(t, msg, "28P01")
	require.Contains(t, msg, "-dsn-file", "the error does not name the DSN's setting")
	require.Contains(t, msg, "restart", "the error does not say that the DSN is read again only by a restart")
	require.NotContains(t, logs.String(), "S3CRET")

	// What the supervisor does: a restart, which reads the updated file.
	logs2 := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready = runDaemon(args, env, logs2, sigs)
	waitReady(t, code, ready, logs2)
	require.Eventually(t, func() bool {
		var off int64
		_ = db.Get(&off, `SELECT ledger_offset FROM txhistory.checkpoint`)
		return off >= 30
	}, 20*time.Second, 20*time.Millisecond, logs2.String())
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs2.String())
	require.NotContains(t, logs2.String(), "S3CRET")
}
