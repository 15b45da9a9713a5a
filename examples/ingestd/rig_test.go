package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// demoLedger starts a fake participant holding n demo transactions of
// demoParty and makes an empty Integration DB; it returns the participant,
// the database's DSN and a connection to it, closed at the test's end.
func demoLedger(t *testing.T, n int) (*ledgertest.Participant, string, *sqlx.DB) {
	t.Helper()
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, n)...)
	require.NoError(t, err)
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return p, dsn, db
}

// waitIngested waits until the checkpoint in db is at p's ledger end,
// failing with the daemon's logs after 30 s.
func waitIngested(t *testing.T, db *sqlx.DB, p *ledgertest.Participant, logs *syncbuf.Buffer) {
	t.Helper()
	require.Eventually(t, func() bool {
		var off int64
		_ = db.Get(&off, `SELECT ledger_offset FROM txhistory.checkpoint`)
		return off == p.LedgerEnd()
	}, 30*time.Second, 20*time.Millisecond, logs.String())
}

// holdMigrationLock takes the schema's migration lock on a session of db of
// its own, as another instance's migrator (or the migration job) holds it;
// release unlocks it, and the session is closed at the test's end.
func holdMigrationLock(t *testing.T, db *sqlx.DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	holder, err := db.Connx(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { holder.Close() })
	_, err = holder.ExecContext(ctx, `SELECT pg_advisory_lock($1, hashtext('txhistory'))`, 0x74786d67)
	require.NoError(t, err)
	return func() {
		t.Helper()
		_, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock($1, hashtext('txhistory'))`, 0x74786d67)
		require.NoError(t, err)
	}
}

// emptyDB makes an empty Integration DB; it returns the database's DSN and
// a connection to it, closed at the test's end.
func emptyDB(t *testing.T) (string, *sqlx.DB) {
	t.Helper()
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return dsn, db
}

// migratedByANewerRelease migrates schema s of db to this build's version
// and records in it a migration of a newer release, as an older release
// rolled back to finds it.
func migratedByANewerRelease(t *testing.T, db *sqlx.DB, s string) {
	t.Helper()
	require.NoError(t, schema.Migrate(context.Background(), db, schema.WithSchema(s)))
	_, err := db.Exec(fmt.Sprintf(`INSERT INTO %s (version, name) VALUES ($1, 'from_a_newer_release')`,
		schema.Qualify(s, "txhistory_migration")), schema.Latest()+1)
	require.NoError(t, err)
}

// requireRefusal waits up to 10 s for the daemon to exit 1 with want in its
// log; a daemon still running then is stopped, and the test fails saying
// it ran on ranOn.
func requireRefusal(t *testing.T, code <-chan int, sigs chan os.Signal, logs *syncbuf.Buffer, want, ranOn string) {
	t.Helper()
	select {
	case got := <-code:
		require.Equal(t, 1, got, logs.String())
		require.Contains(t, logs.String(), want)
	case <-time.After(10 * time.Second):
		sigs <- syscall.SIGTERM
		<-code
		t.Fatalf("ingestd ran on %s:\n%s", ranOn, logs.String())
	}
}

// logStartupWaitEvery sets startupWaitLogEvery to d for the test, restored
// at its end (after the cleanups registered later, which may stop a daemon
// reading it).
func logStartupWaitEvery(t *testing.T, d time.Duration) {
	t.Helper()
	every := startupWaitLogEvery
	startupWaitLogEvery = d
	t.Cleanup(func() { startupWaitLogEvery = every })
}

// hungHost listens on loopback, takes connections and answers nothing (a
// hung database host, or a proxy in front of one that is gone); close
// closes it and the connections it took.
func hungHost(t *testing.T) (addr string, close func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var held []net.Conn
	var once sync.Once
	close = func() {
		once.Do(func() {
			lis.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range held {
				c.Close()
			}
		})
	}
	t.Cleanup(close)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	return lis.Addr().String(), close
}

// daemonOnHungHost starts ingestd with args (and -metrics-addr
// 127.0.0.1:0) on a database at a hungHost, as user u with password pw,
// and a ledger address nothing listens on; closeHost closes the host.
func daemonOnHungHost(t *testing.T, pw string, args ...string) (code <-chan int, sigs chan os.Signal, logs *syncbuf.Buffer, closeHost func()) {
	t.Helper()
	addr, closeHost := hungHost(t)
	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: demoParty, "TXHISTORY_PLAINTEXT": "true",
		conn.EnvDSN: "postgres://u:" + pw + "@" + addr + "/x?sslmode=disable"}
	logs = &syncbuf.Buffer{}
	sigs = make(chan os.Signal, 1)
	code, _ = runDaemon(append(args, "-metrics-addr", "127.0.0.1:0"), env, logs, sigs)
	return code, sigs, logs, closeHost
}

// firstLogLine is the first line of logs containing substr, "" if none.
func firstLogLine(logs *syncbuf.Buffer, substr string) string {
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// openAs opens the database of dsn (a URL) with its sessions' application_name
// set to app, as another program of the exchange connects; it is closed at
// the test's end.
func openAs(t *testing.T, dsn, app string) *sqlx.DB {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err, "pgtest DSN not a URL")
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	db, err := sqlx.Open("postgres", u.String())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}
