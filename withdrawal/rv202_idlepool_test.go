package withdrawal_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// idleSessionsEnded gives e's pool n idle sessions under a DBA's
// idle_session_timeout (1s, set on the database; shorter, a session the
// pool opens afresh may be ended before its first statement on a loaded
// machine, which no retry can help) and returns once the server has ended
// every one of them, as it does to the sessions of a pool that sat idle
// longer than the timeout (between two rounds, overnight): lib/pq notices
// an ended session only on its next use. Ended means the backend's process
// has exited (the shared server is local): it leaves pg_stat_activity
// before it closes its socket, and a statement that reaches it meanwhile
// fails with "connection reset by peer", a session ending as it is used.
func idleSessionsEnded(t *testing.T, e *env, n int) {
	t.Helper()
	pgtest.SharedServer(t) // local: its backends' processes are seen here
	_, err := e.db.ExecContext(e.ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_session_timeout = %L', current_database(), '1s'); END $$`)
	require.NoError(t, err)
	e.db.SetMaxIdleConns(0) // closes the idle connections: new ones take the setting
	e.db.SetMaxIdleConns(n)
	var conns []*sqlx.Conn
	var pids []int
	for range n {
		c, err := e.db.Connx(e.ctx)
		require.NoError(t, err)
		var timeout string
		require.NoError(t, c.GetContext(e.ctx, &timeout, `SHOW idle_session_timeout`))
		require.Equal(t, "1s", timeout)
		var pid int
		require.NoError(t, c.GetContext(e.ctx, &pid, `SELECT pg_backend_pid()`))
		conns = append(conns, c)
		pids = append(pids, pid)
	}
	for _, c := range conns {
		require.NoError(t, c.Close()) // back to the pool, idle
	}
	require.Equal(t, n, e.db.Stats().Idle)
	require.Eventually(t, func() bool {
		for _, pid := range pids {
			if !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "the server did not end the pool's idle sessions %v", pids)
}

// An Automation's round after the pool sat idle past a DBA's
// idle_session_timeout (which OPERATIONS.md says the pool replaces): the
// round takes two connections of its own for a submission (Connx), which
// database/sql hands out as they are, without retrying a session that
// turns out ended as it does for the pool's own statements. The round
// failed with "withdrawal: submitting \"wd-idle\": begin: driver: bad
// connection" (or "recording the submission …"), the withdrawal left for
// a later round, RunOnce's caller handed the error: after every quiet
// spell, not only when a statement meets the timeout as it fires.
func TestRV202AutomationRoundAfterThePoolsSessionsEnded(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	holdings := e.mint("100")
	e.create(e.request("wd-idle", "10", holdings[0]))
	idleSessionsEnded(t, e, 4)

	var submitted []string
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(_ context.Context, w *withdrawal.Withdrawal) error {
			submitted = append(submitted, w.ID)
			return nil
		})})
	require.NoError(t, err)
	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Submitted: 1}, round)
	require.Equal(t, []string{"wd-idle"}, submitted)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-idle").Status)
}
