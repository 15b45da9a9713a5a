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
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// TestStandbyDoesNotIngestIntoANewerSchema: the schema version check
// (-migrate=false, f59473b; Migrate's refusal with -migrate, 39fd4e1) runs
// once, at start, before the Ingester waits for the ingestion lock (the
// default -lock wait). A standby ingestd of the previous release, started
// while its schema was still its own, waits for the lock; the newer
// release's migration job then migrates the schema, and when the primary
// stops the old standby takes over and ingests into the newer release's
// tables: the case schema/newer_test.go names ("a standby left on the
// previous release"), which the check was added to stop.
func TestStandbyDoesNotIngestIntoANewerSchema(t *testing.T) {
	p, dsn, db := demoLedger(t, 20)
	ctx := context.Background()
	require.NoError(t, schema.Migrate(ctx, db))

	// The primary holds the ingestion lock.
	primary, err := db.Conn(ctx)
	require.NoError(t, err)
	_, err = primary.ExecContext(ctx, `SELECT pg_advisory_lock(1954048359, hashtext('txhistory'))`) // lockClass "txig"
	require.NoError(t, err)

	env := map[string]string{conn.EnvLedger: p.Addr(), conn.EnvParty: demoParty, conn.EnvDSN: dsn,
		"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_METRICS_ADDR": "", "TXHISTORY_MIGRATE": "false"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-progress", "1h"}, env, logs, sigs)
	deadline := time.After(20 * time.Second)
	for !strings.Contains(logs.String(), "waiting for it to stop") {
		select {
		case c := <-code:
			t.Fatalf("the standby exited %d:\n%s", c, logs.String())
		case <-deadline:
			t.Fatalf("the standby did not wait for the lock:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	// The newer release's migration job runs, then the primary stops.
	_, err = db.Exec(`INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
	require.NoError(t, err)
	_, err = primary.ExecContext(ctx, `SELECT pg_advisory_unlock(1954048359, hashtext('txhistory'))`)
	require.NoError(t, err)
	require.NoError(t, primary.Close())

	var exited bool
	var got int
	select {
	case got = <-code:
		exited = true
	case <-time.After(10 * time.Second):
	}
	var ingested int
	require.NoError(t, db.Get(&ingested, `SELECT count(*) FROM txhistory.ingested_update`))
	if !exited {
		sigs <- syscall.SIGTERM
		<-code
	}
	require.Zero(t, ingested, "the standby (a build that knows up to %03d) took over and ingested into a schema at %03d:\n%s",
		schema.Latest(), schema.Latest()+1, logs.String())
	require.True(t, exited && got == 1, "the standby kept running on a newer schema:\n%s", logs.String())
}
