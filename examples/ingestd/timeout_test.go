package main

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// TestMigrateOnlyFailsOnAStatementTimeout: the migration job (-migrate-only,
// a Kubernetes Job or an init container) whose migration the database's
// statement_timeout cancels fails, saying so, as it did before 57014 became
// a transient fault for ingestion. waitForDatabase waits for a database that
// is not reachable; it took the cancelled statement for one, and retried
// the migration every second for ever, logging "database not reachable for
// migrations": a deploy waiting for the Job hangs, and the log points at the
// network instead of the timeout. Here the migration lock is held by a
// migrator that hangs (the same happens to a migration statement that takes
// longer than the timeout every time).
func TestMigrateOnlyFailsOnAStatementTimeout(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	var name string
	require.NoError(t, db.Get(&name, `SELECT current_database()`))
	_, err = db.Exec(`ALTER DATABASE ` + pq.QuoteIdentifier(name) + ` SET statement_timeout = 300`)
	require.NoError(t, err)

	// A migrator that hangs holding the migration lock of the schema.
	holdMigrationLock(t, db)

	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-migrate-only"}, map[string]string{conn.EnvDSN: dsn}, logs, sigs)
	select {
	case got := <-code:
		require.Equal(t, 1, got, logs.String())
		require.Contains(t, logs.String(), "statement timeout")
		require.NotContains(t, logs.String(), "not reachable")
	case <-time.After(10 * time.Second):
		sigs <- syscall.SIGTERM
		<-code
		t.Fatalf("-migrate-only retried a statement cancelled by statement_timeout for 10 s instead of failing:\n%s", logs.String())
	}
}
