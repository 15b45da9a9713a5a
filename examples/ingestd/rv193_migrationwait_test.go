package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// TestMigrationWaitingForALockIsLogged: ingestd starting with -migrate (or
// the migration job, -migrate-only) while the schema's migration lock is
// held (another instance's migrations, or the job's, themselves waiting
// behind a report's open transaction for a table lock) waits for as long
// as the lock is held. The database answers, so nothing was logged: an
// hour of such a wait showed no line after the start, and /healthz's
// "waiting for the database (migrations)" sent the operator to check the
// network. It logs, every startupWaitLogEvery, that the migrations are
// still waiting and for what they likely wait.
func TestMigrationWaitingForALockIsLogged(t *testing.T) {
	logStartupWaitEvery(t, 500*time.Millisecond)

	p, dsn, db := demoLedger(t, 5)
	// The schema's migration lock, as a migrator of another instance holds it.
	release := holdMigrationLock(t, db)

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-migrate", "-metrics-addr", "127.0.0.1:0"}, env, logs, sigs)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "migration lock") }, 10*time.Second, 20*time.Millisecond,
		"nothing logged while the migrations wait for the schema's migration lock:\n%s", logs.String())

	// Released: it migrates and starts.
	release()
	waitReady(t, code, ready, logs)
	waitIngested(t, db, p, logs)
	mark := len(logs.String())
	time.Sleep(time.Second)
	require.NotContains(t, logs.String()[mark:], "still waiting", "still logging the wait once the migrations are done")
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}

// TestMigrationWaitingForAHungDatabaseIsNotBlamedOnALock: a database host
// that takes connections but answers nothing (hung, or a proxy in front of
// one that is gone; without connect_timeout in the DSN each attempt waits
// for ever) holds the migrations' attempt as a lock would. The line saying
// they are still waiting must not send the operator looking for a lock in
// a database that does not answer.
func TestMigrationWaitingForAHungDatabaseIsNotBlamedOnALock(t *testing.T) {
	logStartupWaitEvery(t, 500*time.Millisecond)

	code, sigs, logs, closeHost := daemonOnHungHost(t, "pw", "-migrate")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "still waiting for the migrations") }, 15*time.Second, 20*time.Millisecond,
		"nothing logged while the migrations wait for a database that does not answer:\n%s", logs.String())
	line := firstLogLine(logs, "still waiting for the migrations")
	require.Contains(t, line, "does not answer", "the line does not say that the database does not answer: %s", line)
	require.NotContains(t, line, "wait for a lock", "a database that does not answer is blamed on a lock: %s", line)
	// lib/pq's start-up does not see the stop while the host answers
	// nothing (OPERATIONS.md: bound it with connect_timeout): the host goes.
	sigs <- syscall.SIGTERM
	closeHost()
	select {
	case <-code:
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", logs.String())
	}
}
