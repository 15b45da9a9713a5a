package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestStartupWaitLogsANewCauseAtOnce: ingestd waiting at start for its
// database logs the first failure, then at most one line per
// startupWaitLogEvery (340dcef). When the cause changes meanwhile (the
// database is back, but refuses the role's sessions: its CONNECTION LIMIT
// reached, "too many connections", a fault waited out too), the throttle
// hid the new cause until the next line, up to 30 s later, the log still
// saying what the operator had just fixed. A failure of a kind not seen
// before in the wait is logged at once; the same kind still at most once
// per startupWaitLogEvery.
func TestStartupWaitLogsANewCauseAtOnce(t *testing.T) {
	logStartupWaitEvery(t, time.Hour)

	dsn, open := closedDatabase(t)
	admin, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer admin.Close()
	// A role of the test's own, whose sessions the database refuses once it
	// answers (superusers are not held to a CONNECTION LIMIT).
	role := fmt.Sprintf("rv200_ingest_%d", time.Now().UnixNano())
	open.Store(true)
	_, err = admin.Exec(`CREATE ROLE ` + role + ` LOGIN PASSWORD 'pw-S3CRET' CONNECTION LIMIT 0`)
	require.NoError(t, err)
	admin.SetMaxIdleConns(0)
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), `DROP ROLE `+role) })
	open.Store(false)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.UserPassword(role, "pw-S3CRET")

	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: demoParty,
		conn.EnvDSN: u.String(), "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-migrate", "-metrics-addr", "127.0.0.1:0"}, env, logs, sigs)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			sigs <- syscall.SIGTERM
			select {
			case <-code:
			case <-time.After(20 * time.Second):
				t.Errorf("no exit after SIGTERM:\n%s", logs.String())
			}
		})
	}
	t.Cleanup(stop) // before startupWaitLogEvery is restored, which the daemon reads
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "database not reachable for migrations") }, 10*time.Second, 20*time.Millisecond,
		"the wait for the database is not logged:\n%s", logs.String())
	time.Sleep(3 * time.Second) // attempts of the same causes: not logged again
	// The closed port's refusal reads as a reset or as EOF, as it happens:
	// one cause, one line.
	require.Equal(t, 1, strings.Count(logs.String(), "database not reachable for migrations"), logs.String())

	// The database answers again, but refuses the role's sessions.
	open.Store(true)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "too many connections") }, 5*time.Second, 20*time.Millisecond,
		"the new cause (the role's connection limit) is not logged within 5 s of its first attempt:\n%s", logs.String())
	mark := len(logs.String())
	time.Sleep(2500 * time.Millisecond)
	require.NotContains(t, logs.String()[mark:], "database not reachable", "the same cause logged again within startupWaitLogEvery:\n%s", logs.String())
	require.NotContains(t, logs.String(), "pw-S3CRET")

	stop()
}
