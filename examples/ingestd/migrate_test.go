package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestMigrationsWaitForTheDatabase: OPERATIONS.md says ingestd (and
// -migrate-only) "waits for the database" and that a SIGTERM "while
// migrations wait for the database" exits 0; ingestion itself retries a
// PostgreSQL restart for ever, and -migrate=false waits for the database
// without end. With the default -migrate, a database that takes more than
// about 30 s to come up (a failover, a host booting) must not make the
// daemon exit 1, the status of a fatal ingestion error.
func TestMigrationsWaitForTheDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 35 s")
	}
	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: "treasury::1",
		conn.EnvDSN:           "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1",
		"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_METRICS_ADDR": ""}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code := make(chan int, 1)
	go func() { code <- run(nil, envOf(env), logs, sigs, nil) }()
	select {
	case c := <-code:
		t.Fatalf("ingestd gave up waiting for its database and exited %d:\n%s", c, logs.String())
	case <-time.After(35 * time.Second):
	}
	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}

// TestMigrateFalseChecksTheSchemaVersion: with -migrate=false (production:
// the ingest role cannot migrate, docs/OPERATIONS.md) ingestd does not run
// on a schema the migration job has not brought to this build's version,
// nor on one a newer release migrated (whose tables this build must not
// write): it exits 1 saying which, instead of failing later on a missing
// column or writing what the newer release's backfills never see.
func TestMigrateFalseChecksTheSchemaVersion(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, db *sqlx.DB)
		want  string
	}{
		{"unmigrated", func(t *testing.T, db *sqlx.DB) {}, "run ingestd -migrate-only"},
		{"newer", func(t *testing.T, db *sqlx.DB) { migratedByANewerRelease(t, db, schema.DefaultName) }, "newer than this build"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dsn, db := emptyDB(t)
			c.setup(t, db)
			env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: "treasury::1", conn.EnvDSN: dsn,
				"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_METRICS_ADDR": "", "TXHISTORY_MIGRATE": "false"}
			logs := &syncbuf.Buffer{}
			sigs := make(chan os.Signal, 1)
			code, _ := runDaemon(nil, env, logs, sigs)
			requireRefusal(t, code, sigs, logs, c.want, "the "+c.name+" schema")
		})
	}
}

// TestMigrateOnlyTo: rolling back to an older release, the newer one's
// migration job takes the schema down to the older one's version
// (-migrate-only -migrate-to N), which that release then accepts; and
// -migrate-to without -migrate-only is a configuration error.
func TestMigrateOnlyTo(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, schema.Migrate(context.Background(), db))
	env := map[string]string{conn.EnvDSN: dsn}
	down := schema.Latest() - 1
	logs := &syncbuf.Buffer{}
	require.Equal(t, 0, run([]string{"-migrate-only", "-migrate-to", strconv.Itoa(down)}, envOf(env), logs, nil, nil), logs.String())
	applied, err := schema.Versions(context.Background(), db)
	require.NoError(t, err)
	require.Equal(t, down, applied[len(applied)-1].Version)
	// The job says what it left behind: a deploy's log shows the version.
	require.Contains(t, logs.String(), fmt.Sprintf(`"msg":"ingestd: migrations done","schema":"txhistory","version":%d`, down), logs.String())

	logs = &syncbuf.Buffer{}
	require.Equal(t, 2, run([]string{"-migrate-to", "3"}, envOf(map[string]string{conn.EnvLedger: "validator:5001",
		conn.EnvParty: "treasury::1", conn.EnvDSN: dsn}), logs, nil, nil), logs.String())
	require.Contains(t, logs.String(), "-migrate-to needs -migrate-only")
}
