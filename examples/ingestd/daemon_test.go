package main

import (
	"os"
	"path/filepath"
	"strings"
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

func TestMain(m *testing.M) { pgtest.Main(m) }

// waitReady waits until the daemon run by runDaemon is ingesting, failing
// the test if it exits first or takes over a minute.
func waitReady(t *testing.T, code <-chan int, ready <-chan string, logs *syncbuf.Buffer) {
	t.Helper()
	select {
	case <-ready:
	case c := <-code:
		t.Fatalf("exited %d:\n%s", c, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("not ready after a minute:\n%s", logs.String())
	}
}

// runDaemon starts run in a goroutine and returns its exit code channel.
func runDaemon(args []string, env map[string]string, logs *syncbuf.Buffer, sigs chan os.Signal) (<-chan int, <-chan string) {
	code := make(chan int, 1)
	ready := make(chan string, 1)
	go func() { code <- run(args, envOf(env), logs, sigs, ready) }()
	return code, ready
}

// TestTokenFileEmptyAtStart: a token file a sidecar rewrites in place
// (truncate, then write), or has not written yet, is empty for a moment;
// the daemon waits for the token instead of sending an empty one and
// stopping for good on the participant's UNAUTHENTICATED.
func TestTokenFileEmptyAtStart(t *testing.T) {
	p, err := ledgertest.New(ledgertest.WithToken("good-token"))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, 20)...)
	require.NoError(t, err)
	dsn := pgtest.NewDSN(t)

	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, nil, 0o600)) // mid-rewrite: truncated
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = os.WriteFile(tokenFile, []byte("good-token\n"), 0o600)
	}()

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn,
		"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_TOKEN_FILE": tokenFile}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "100ms"}, env, logs, sigs)

	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	deadline := time.After(10 * time.Second)
	for {
		var off int64
		_ = db.Get(&off, `SELECT ledger_offset FROM txhistory.checkpoint`)
		if off >= p.LedgerEnd() {
			break
		}
		select {
		case c := <-code:
			t.Fatalf("ingestd exited %d because the token file was momentarily empty:\n%s", c, logs.String())
		case <-deadline:
			t.Fatalf("not ingested within 10 s:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}

// TestDemoWithTheHostsMigrateFalse: the demo, on a host whose environment
// says TXHISTORY_MIGRATE=false (as production runs, docs/OPERATIONS.md),
// still migrates its own empty database and runs.
func TestDemoWithTheHostsMigrateFalse(t *testing.T) {
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-demo", "-metrics-addr", "127.0.0.1:0", "-demo-backlog", "100", "-progress", "100ms"},
		map[string]string{"TXHISTORY_MIGRATE": "false"}, logs, sigs)
	waitReady(t, code, ready, logs)
	select {
	case c := <-code:
		t.Fatalf("demo exited %d with the host's TXHISTORY_MIGRATE=false:\n%s", c, logs.String())
	case <-time.After(3 * time.Second):
	}
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}

// TestMigrateOnlyInterruptedFails: the migration job (-migrate-only)
// stopped by SIGTERM before the migrations ran (the database not reachable
// yet) does not report success: a deploy pipeline or an init container
// would go on with an unmigrated schema.
func TestMigrateOnlyInterruptedFails(t *testing.T) {
	env := map[string]string{conn.EnvDSN: "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-migrate-only"}, env, logs, sigs)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "retrying") }, 20*time.Second, 10*time.Millisecond)
	sigs <- syscall.SIGTERM
	select {
	case c := <-code:
		require.Equal(t, 1, c, "the migration job reports success although no migration ran:\n%s", logs.String())
		require.Contains(t, logs.String(), "before the migrations completed")
	case <-time.After(10 * time.Second):
		t.Fatal("no exit")
	}
}

// TestStartedLineWithholdsAnInlineSSLKey: a DSN with an inline client key
// (lib/pq's sslinline=true, the key in sslkey), its blanks percent-encoded
// or left literal (lib/pq accepts both in a URL), is logged by "ingestd:
// started" without the key.
func TestStartedLineWithholdsAnInlineSSLKey(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	// sslmode stays disable for the test server; the key is in the DSN all
	// the same, as it would be with sslmode=verify-full.
	for _, key := range []string{
		"-----BEGIN%20PRIVATE%20KEY-----%20MC4CAQAwBQYDK2VwBCIEIDontLogMe%20-----END%20PRIVATE%20KEY-----",
		"-----BEGIN PRIVATE KEY-----%0AMC4CAQAwBQYDK2VwBCIEIDontLogMe%0A-----END PRIVATE KEY-----",
	} {
		env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: pgtest.NewDSN(t) + "&sslinline=true&sslkey=" + key,
			"TXHISTORY_PLAINTEXT": "true"}
		logs := &syncbuf.Buffer{}
		sigs := make(chan os.Signal, 1)
		code, ready := runDaemon([]string{"-metrics-addr", "127.0.0.1:0"}, env, logs, sigs)
		waitReady(t, code, ready, logs)
		sigs <- syscall.SIGTERM
		<-code
		require.NotContains(t, logs.String(), "DontLogMe", "the client key is in the logs")
	}
}

// TestDemoIgnoresTheHostsLibpqEnvironment: the demo's connection goes
// through lib/pq, which reads the process environment (PGSERVICE and its
// service file, PGHOSTADDR, PGPASSWORD, ...) for whatever the demo's DSN
// leaves out; a shell set up for psql against production does not reach
// the demo's own PostgreSQL.
func TestDemoIgnoresTheHostsLibpqEnvironment(t *testing.T) {
	for name, env := range map[string]map[string]string{
		// An operator's shell set up for psql against production.
		"PGSERVICE": {"PGSERVICE": "integration", "PGSERVICEFILE": filepath.Join(t.TempDir(), "pg_service.conf")},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			logs := &syncbuf.Buffer{}
			sigs := make(chan os.Signal, 1)
			code, ready := runDaemon([]string{"-demo", "-demo-backlog", "10", "-progress", "100ms"}, nil, logs, sigs)
			waitReady(t, code, ready, logs)
			sigs <- syscall.SIGTERM
			require.Equal(t, 0, <-code, logs.String())
		})
	}
}

// TestDemoHonoursPGBinDir: PG_BINDIR is pgtest's setting (where the
// demo's own PostgreSQL binaries are), not a libpq variable; the demo
// still uses it. Here PG_BINDIR names a directory whose initdb records that
// it ran and then runs the real one.
func TestDemoHonoursPGBinDir(t *testing.T) {
	real := "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(filepath.Join(real, "initdb")); err != nil {
		t.Skip("no PostgreSQL 15 binaries")
	}
	dir, err := os.MkdirTemp("", "pgbindir")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	marker := filepath.Join(dir, "initdb-ran")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "initdb"),
		[]byte("#!/bin/sh\necho ran >> "+marker+"\nexec "+real+"/initdb \"$@\"\n"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(real, "postgres"), filepath.Join(dir, "postgres")))
	t.Setenv("PG_BINDIR", dir)

	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-demo", "-demo-backlog", "10", "-progress", "100ms"}, nil, logs, sigs)
	waitReady(t, code, ready, logs)
	sigs <- syscall.SIGTERM
	<-code
	_, err = os.Stat(marker)
	require.NoError(t, err, "the demo did not use $PG_BINDIR's initdb; logs:\n%s", logs.String())
}
