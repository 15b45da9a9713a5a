package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// TestMigrationWaitingForASharedHolderNamesIt: a rollout of a new release
// with -migrate while the running release's exchange keeps a transaction
// open that called one of txhistory's writes (withdrawal.Store.CreateTx,
// ApplyOutcomeTx, ResolveSetAsideTx: CheckCurrentTx holds the schema's
// migration lock shared until it ends). The migrations wait for it. The
// "still waiting" line blamed another instance's migrations or the
// migration job, neither of which exists, and named no session: it now
// names the session holding the lock (its pid, application_name and
// mode), found in pg_locks when the database answers.
func TestMigrationWaitingForASharedHolderNamesIt(t *testing.T) {
	logStartupWaitEvery(t, 500*time.Millisecond)

	p, dsn, _ := demoLedger(t, 5)
	// The exchange's API server: its own application_name, a transaction
	// left open after a txhistory write checked the schema's version.
	exch := openAs(t, dsn, "exchange-api")
	ctx := context.Background()
	tx, err := exch.BeginTxx(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	var pid int
	require.NoError(t, tx.GetContext(ctx, &pid, `SELECT pg_backend_pid() FROM pg_advisory_xact_lock_shared($1, hashtext('txhistory'))`, 0x74786d67))

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-migrate", "-metrics-addr", "127.0.0.1:0"}, env, logs, sigs)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "still waiting for the migrations") }, 10*time.Second, 20*time.Millisecond,
		"nothing logged while the migrations wait for the schema's migration lock:\n%s", logs.String())
	line := firstLogLine(logs, "still waiting for the migrations")
	require.Contains(t, line, "exchange-api", "the line does not name the session holding the migration lock: %s", line)
	require.Contains(t, line, "shared", "the line does not say the lock is held shared (a transaction that checked the version): %s", line)
	require.Regexp(t, `\b`+strconv.Itoa(pid)+`\b`, line, "the line does not name the holder's pid %d: %s", pid, line)

	// The exchange's transaction ends: it migrates and starts.
	require.NoError(t, tx.Rollback())
	waitReady(t, code, ready, logs)
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}

// TestMigrationWaitingForATableLockNamesTheBlocker: the migrations hold
// the schema's migration lock and wait for a table they alter, which a
// report's open transaction has read. The line names the migrating
// session and the one it waits for, by its application_name.
func TestMigrationWaitingForATableLockNamesTheBlocker(t *testing.T) {
	logStartupWaitEvery(t, 500*time.Millisecond)

	p, dsn, db := demoLedger(t, 5)
	ctx := context.Background()
	// The schema one version behind: the latest migration alters
	// review_transaction.
	require.NoError(t, schema.Migrate(ctx, db, schema.WithTargetVersion(schema.Latest()-1)))
	report := openAs(t, dsn, "nightly-report")
	tx, err := report.BeginTxx(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	_, err = tx.ExecContext(ctx, `SELECT count(*) FROM txhistory.review_transaction`)
	require.NoError(t, err)

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-migrate", "-metrics-addr", "127.0.0.1:0"}, env, logs, sigs)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "still waiting for the migrations") }, 10*time.Second, 20*time.Millisecond,
		"nothing logged while the migrations wait for a table lock:\n%s", logs.String())
	line := firstLogLine(logs, "still waiting for the migrations")
	require.Contains(t, line, `txhistory-ingestd\" exclusive`, "the line does not name the migrating session: %s", line)
	require.Contains(t, line, `itself waiting for pid`, "the line does not say the migrating session waits: %s", line)
	require.Contains(t, line, `\"nightly-report\"`, "the line does not name the session it waits for: %s", line)

	require.NoError(t, tx.Rollback())
	waitReady(t, code, ready, logs)
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}
