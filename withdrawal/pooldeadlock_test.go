package withdrawal_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// lockWaiter reports, within d, whether a backend of the database runs a
// statement like the ILIKE pattern while waiting for a lock.
func lockWaiter(t *testing.T, ctx context.Context, db *sqlx.DB, like string, d time.Duration) bool {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var n int
		require.NoError(t, db.GetContext(ctx, &n, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE $1`, like))
		if n > 0 {
			return true
		}
	}
	return false
}

// A pool of two connections is accepted by NewAutomation. Disable, called
// on the same Store while the Automation's submit transaction holds the
// gate in share mode, takes the pool's other connection and waits (LOCK
// TABLE ... EXCLUSIVE) for that transaction. The Automation must not then
// need a further pool connection to record its attempt: PostgreSQL sees no
// deadlock in a wait for a pool connection, and both would hang until
// their contexts end.
//
// An external session holding the gate table pins the timing: it makes the
// Automation's FOR SHARE wait, so that Disable queues behind it, as happens
// when Disable arrives between the Automation's gate read and its record
// of the attempt.
func TestDisableDuringSubmitWithAPoolOfTwo(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.tick(e.world.Now())

	var dbName string
	require.NoError(t, e.db.GetContext(e.ctx, &dbName, `SELECT current_database()`))
	ext, err := sqlx.Open("postgres", pgtest.SharedServer(t).DSN(dbName))
	require.NoError(t, err)
	defer ext.Close()

	// The pinning session: EXCLUSIVE on the gate table lets plain reads of
	// the gate through (RunOnce's Gate) but makes FOR SHARE wait.
	pin, err := ext.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	defer pin.Rollback()
	_, err = pin.ExecContext(e.ctx, `LOCK TABLE txhistory.withdrawal_gate IN EXCLUSIVE MODE`)
	require.NoError(t, err)

	e.db.SetMaxOpenConns(2)
	defer e.db.SetMaxOpenConns(0)
	var submitted atomic.Int32
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			submitted.Add(1)
			return nil
		})})
	require.NoError(t, err, "a pool of two is accepted")

	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	type result struct {
		r   withdrawal.Round
		err error
	}
	rounds := make(chan result, 1)
	go func() {
		r, err := auto.RunOnce(ctx)
		rounds <- result{r, err}
	}()
	require.True(t, lockWaiter(t, e.ctx, ext, "%FOR SHARE%", 10*time.Second), "the Automation waits for the gate")

	disabled := make(chan error, 1)
	go func() { disabled <- e.store.Disable(ctx, "restore step 1") }()
	// Disable queues for the gate lock (if it got a pool connection; if
	// the Automation holds both, it waits for one, which is no deadlock).
	lockWaiter(t, e.ctx, ext, "LOCK TABLE%", 2*time.Second)

	require.NoError(t, pin.Commit())

	select {
	case res := <-rounds:
		require.NoError(t, res.err)
		require.Equal(t, 1, res.r.Submitted)
	case <-time.After(10 * time.Second):
		t.Fatalf("the Automation and Disable wait for each other: the Automation for a second pool connection "+
			"(held by Disable), Disable for the Automation's share lock on the gate (submitted %d)", submitted.Load())
	}
	require.NoError(t, <-disabled)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-1").Status)
}
