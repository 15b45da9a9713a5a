package ingest_test

import (
	"context"
	"errors"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// An Ingester started (a first Run, or a Run again after a Stop) on a pool
// that sat idle past a DBA's idle_session_timeout (1s, set on the
// database), which OPERATIONS.md says the pool replaces: the server has
// ended the pool's idle sessions, which lib/pq notices only at their next
// use. acquireLock takes its connection with Conn, on which database/sql
// retries nothing, and took the session's end for a database fault:
// Stats.Errors["database"] 1 and "ingest: database unavailable while
// taking the lock, retrying" (driver: bad connection) at every such start,
// though the database was there all along.
func TestRV202StartAfterThePoolsSessionsEnded(t *testing.T) {
	b := setup(t)
	_, err := b.db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_session_timeout = %L', current_database(), '1s'); END $$`)
	require.NoError(t, err)
	const idle = 4
	db, err := sqlx.Open("postgres", b.dsn) // new sessions take the setting
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	db.SetMaxIdleConns(idle)
	var conns []*sqlx.Conn
	var pids []int
	for range idle {
		c, err := db.Connx(context.Background())
		require.NoError(t, err)
		var timeout string
		require.NoError(t, c.GetContext(context.Background(), &timeout, `SHOW idle_session_timeout`))
		require.Equal(t, "1s", timeout)
		var pid int
		require.NoError(t, c.GetContext(context.Background(), &pid, `SELECT pg_backend_pid()`))
		conns = append(conns, c)
		pids = append(pids, pid)
	}
	for _, c := range conns {
		require.NoError(t, c.Close()) // back to the pool, idle
	}
	require.Equal(t, idle, db.Stats().Idle)
	// Ended: the backends' processes have exited (the shared server is
	// local). A backend leaves pg_stat_activity before it closes its
	// socket, and a statement that reaches it meanwhile fails with
	// "connection reset by peer", a session ending as it is used.
	pgtest.SharedServer(t)
	require.Eventually(t, func() bool {
		for _, pid := range pids {
			if !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "the server did not end the pool's idle sessions %v", pids)
	b.db = db

	appendN(t, b.p, 0, 20)
	var logs syncbuf.Buffer
	ing := newIngester(t, b, ingest.Config{EndOffset: b.p.LedgerEnd(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	requireAllOnce(t, b)
	require.Empty(t, ing.Stats().Errors, "%s", logs.String())
}
