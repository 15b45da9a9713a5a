package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// The receiver has no transfer pre-approval: the first Submit says so
// (ErrNoPreapproval: the participant accepted nothing), and the Automation
// marks the withdrawal failed, crediting the user back. That mark does not
// commit: the exchange's Refunder fails once (a deadlock with a balance
// update, SQLSTATE 40P01: retry), or the process dies before the commit.
// The next round gets ErrNoPreapproval again and must fail the withdrawal
// then: no command was ever accepted. It must not take the attempt
// recorded before the first Submit for "an earlier submission may have
// committed" and leave the user's funds reserved until trecTgt.
func TestNoPreapprovalFailsAfterARefundError(t *testing.T) {
	t.Run("refunder error", func(t *testing.T) { noPreapprovalAfterALostMark(t, false) })
	t.Run("crash before the commit", func(t *testing.T) { noPreapprovalAfterALostMark(t, true) })
}

func noPreapprovalAfterALostMark(t *testing.T, crash bool) {
	var refundErrs atomic.Int32
	refundErrs.Store(1)
	var die atomic.Pointer[context.CancelFunc]
	flaky := withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
		if refundErrs.Add(-1) >= 0 {
			if crash {
				(*die.Load())()
				return ctx.Err()
			}
			return errors.New("pq: deadlock detected (40P01)")
		}
		return refunder(ctx, tx, w)
	})
	e := newEnv(t, withdrawal.Config{Refunder: flaky}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.tick(e.world.Now())

	calls := 0
	noPreapproval := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		calls++
		return fmt.Errorf("receiver %s: %w", w.Receiver, withdrawal.ErrNoPreapproval)
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: noPreapproval, Logger: quietLog})
	require.NoError(t, err)
	ctx1, cancel := context.WithCancel(e.ctx)
	defer cancel()
	die.Store(&cancel)
	_, err = auto.RunOnce(ctx1)
	require.Error(t, err)
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)

	if crash { // restarted
		// A crashed process's transaction ends with its session. Here
		// database/sql rolls the cancelled one back on its own goroutine,
		// and until it has, its lock on wd-1 (pg_try_advisory_xact_lock)
		// keeps the next round out of wd-1, as it keeps out a round
		// running beside it: wait for the rollback, as for the session's
		// end.
		require.Eventually(t, func() bool {
			var n int
			err := e.db.Get(&n, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
				AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
			return err == nil && n == 0
		}, 10*time.Second, 5*time.Millisecond, "the cancelled round's transaction still holds its lock")
		auto, err = withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: noPreapproval, Logger: quietLog})
		require.NoError(t, err)
	}
	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, calls)
	got := e.get("wd-1")
	require.Equal(t, withdrawal.StatusFailed, got.Status,
		"the second round (round %+v) left wd-1 %s to expire at its trecTgt, though no submission was ever accepted", round, got.Status)
	require.Equal(t, map[string]string{"wd-1": "6"}, refunds(t, e.db))
}

// wd-1's receiver has no transfer pre-approval, and the exchange's Refunder
// refuses wd-1's refund every time (the user's account is frozen, say): the
// failed mark never commits. wd-2, requested after it, goes to a receiver
// with a pre-approval. Since 8355726/be48f28 the refused attempt is
// cleared before the mark, so every round finds wd-1 first again (not
// retried, oldest), fails its mark, and RunOnce returns the Refunder's
// error before wd-2: one withdrawal the Refunder refuses stops every other
// withdrawal, for good. At f1bf16f the second round found the recorded
// attempt, left wd-1 to expire at the back of the queue, and submitted
// wd-2.
func TestARefundRefusedForOneWithdrawalDoesNotStopTheOthers(t *testing.T) {
	refusing := withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
		if w.ID == "wd-1" {
			return errors.New("exchange: account user-wd-1 is frozen")
		}
		return refunder(ctx, tx, w)
	})
	e := newEnv(t, withdrawal.Config{Refunder: refusing}, withdrawal.ReconcilerConfig{})
	e.requestTwo()

	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: noPreapprovalFor("wd-1"), Logger: quietLog})
	require.NoError(t, err)
	errs := e.runRounds(auto, 4)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-2").Status,
		"wd-2 never submitted: every round stopped at wd-1's refused refund (%d of 4 rounds failed: %v)", len(errs), errors.Join(errs...))
}
