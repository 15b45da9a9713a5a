package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/internal/lostcommit"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// rv206SubmitLockFree waits until no session holds the advisory lock of a
// withdrawal's submission (the Automation's, class "txwd"): the session
// whose COMMIT the proxy cut has ended.
func rv206SubmitLockFree(e *env) error {
	for {
		var held bool
		if err := e.db.GetContext(e.ctx, &held, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND objsubid = 2)`, 0x74787764); err != nil {
			return err
		}
		if !held {
			return nil
		}
		select {
		case <-e.ctx.Done():
			return e.ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Two Automations (a rolling deploy). A's mark of the withdrawal submitted
// is lost with its connection before the COMMIT reaches the server: it
// rolls back. Before A reads the withdrawal back, B hands it over again
// (an attempt is recorded: the Submitter deduplicates) and marks it
// submitted. A's read-back must not take B's mark for its own: one mark
// committed, and the two rounds count one submission, A's failing.
func TestRV206ReadBackOfALostSubmittedMarkIsNotAnotherAutomations(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	w := e.create(e.request("wd-1", "60", e.mint("80")...))
	e.tick(e.world.Now())
	store, proxy := e.lostCommitStore(withdrawal.Config{})
	ok := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error { return nil })
	a, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Logger: quietLog, Submitter: ok})
	require.NoError(t, err)
	b, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog, Submitter: ok})
	require.NoError(t, err)

	var roundB withdrawal.Round
	var errB error
	proxy.Cut("submitted_at = now()", func() {
		if errB = rv206SubmitLockFree(e); errB == nil {
			roundB, errB = b.RunOnce(e.ctx)
		}
	})
	roundA, errA := a.RunOnce(e.ctx)
	require.Equal(t, 1, proxy.Lost(), "A's COMMIT was not cut")
	require.NoError(t, errB)
	require.Equal(t, 1, roundB.Submitted, "B did not mark it submitted")
	require.Equal(t, withdrawal.StatusSubmitted, e.get(w.ID).Status)
	require.Zero(t, roundA.Submitted, "A counts B's mark as its own, whose COMMIT never reached the server")
	require.Error(t, errA, "A's mark did not commit")
}

// The participant refuses the withdrawal's only submission (no transfer
// pre-approval); the Automation clears its attempt and marks it failed,
// refunding the user, and that COMMIT is lost with its connection before
// it reaches the server: it rolls back. Before the Automation reads the
// withdrawal back, support fails it (MarkFailed, refunding it). The round
// must not count support's failure as its own mark, nor log it as failed
// for no pre-approval: its own mark did not commit.
func TestRV206ReadBackOfALostFailedMarkIsNotSupports(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	w := e.create(e.request("wd-1", "60", e.mint("80")...))
	e.tick(e.world.Now())
	store, proxy := e.lostCommitStore(withdrawal.Config{})
	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Logger: quietLog, Submitter: noPreapprovalFor("wd-1")})
	require.NoError(t, err)

	var errS error
	proxy.Cut("failure_reason = $3", func() {
		// Waits for the Automation's row lock: until its transaction
		// rolled back.
		_, errS = e.store.MarkFailed(e.ctx, w.ID, "support: the user cancelled")
	})
	round, err := auto.RunOnce(e.ctx)
	require.Equal(t, 1, proxy.Lost(), "the mark's COMMIT was not cut")
	require.NoError(t, errS)
	got := e.get(w.ID)
	require.Equal(t, withdrawal.StatusFailed, got.Status)
	require.Equal(t, "support: the user cancelled", got.FailureReason)
	var refunds int
	require.NoError(t, e.db.GetContext(e.ctx, &refunds, `SELECT count(*) FROM public.refund WHERE withdrawal_id = 'wd-1'`))
	require.Equal(t, 1, refunds)
	require.Zero(t, round.Failed, "the round counts support's failure as its own mark, whose COMMIT never reached the server")
	require.Error(t, err, "the round's mark did not commit")
}

// The Automation's own pool, of the two connections it needs (its
// record's and its submission's), through the proxy. Its mark of the
// withdrawal submitted commits, and the connection is reset before the
// reply (connection reset by peer, which lib/pq does not turn into
// driver.ErrBadConn: database/sql keeps the connection with the round's
// *sql.Conn). The read-back of the mark must not wait for a third
// connection the pool never gives while the round holds both: the round
// counts its mark, committed, as for a reply that was closed (EOF).
func TestRV206ReadBackOfAMarkLostToAResetInAPoolOfTwo(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	w := e.create(e.request("wd-1", "60", e.mint("80")...))
	e.tick(e.world.Now())
	var name string
	require.NoError(t, e.db.GetContext(e.ctx, &name, `SELECT current_database()`))
	proxy := lostcommit.New(t, pgtest.SharedServer(t).DSN(name))
	db, err := sqlx.Open("postgres", proxy.DSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(2)
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error { return nil })})
	require.NoError(t, err)

	// A bound for the test only: the exchange's Run lives as long as
	// its process.
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	proxy.ArmReset("submitted_at = now()")
	round, err := auto.RunOnce(ctx)
	require.Equal(t, 1, proxy.Lost(), "the reply to the mark's COMMIT was not lost")
	require.Equal(t, withdrawal.StatusSubmitted, e.get(w.ID).Status, "the mark committed")
	require.NoError(t, err, "the round waited for a connection its pool of two cannot give while it holds both")
	require.Equal(t, 1, round.Submitted)
}
