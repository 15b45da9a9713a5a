package main

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
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
	logs := &lockedBuffer{}
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
