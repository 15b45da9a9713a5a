package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// OPERATIONS.md's migration step: a migration job given lock_timeout in
// its DSN, queued behind an open reader of a table a migration alters,
// times out, applies nothing and exits 1 with lock_not_available (55P03);
// run again once the reader is gone, it applies them all.
func TestRV89MigrateOnlyLockTimeout(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, schema.Migrate(ctx, db, schema.WithTargetVersion(6)))

	report, err := db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = report.Rollback() }()
	var n int
	require.NoError(t, report.GetContext(ctx, &n, `SELECT count(*) FROM txhistory.withdrawal`))

	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	env := map[string]string{conn.EnvDSN: dsn + sep + "lock_timeout=1s", "TXHISTORY_METRICS_ADDR": ""}
	migrateOnly := func() (int, string) {
		logs := &syncbuf.Buffer{}
		code, _ := runDaemon([]string{"-migrate-only"}, env, logs, make(chan os.Signal, 1))
		select {
		case c := <-code:
			return c, logs.String()
		case <-time.After(30 * time.Second):
			t.Fatalf("-migrate-only did not exit behind an open reader with lock_timeout=1s:\n%s", logs.String())
		}
		return 0, ""
	}
	begun := time.Now()
	c, logs := migrateOnly()
	require.Equal(t, 1, c, logs)
	require.Less(t, time.Since(begun), 15*time.Second, logs)
	require.True(t, strings.Contains(logs, "55P03") || strings.Contains(logs, "lock_not_available"), "the error names neither 55P03 nor lock_not_available:\n%s", logs)
	require.NoError(t, report.Rollback())
	var v int
	require.NoError(t, db.GetContext(ctx, &v, `SELECT max(version) FROM txhistory.txhistory_migration`))
	require.Equal(t, 6, v, "a timed-out migration applied some")

	c, logs = migrateOnly()
	require.Equal(t, 0, c, logs)
	require.NoError(t, db.GetContext(ctx, &v, `SELECT max(version) FROM txhistory.txhistory_migration`))
	require.Equal(t, schema.Latest(), v)
}
