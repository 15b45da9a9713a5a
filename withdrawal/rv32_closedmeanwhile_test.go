package withdrawal_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A withdrawal the Automation has read as requested is closed by another
// writer before the Automation records its attempt: the exchange's support
// cancels it (MarkFailed, which refunds the user), or ingestion expires it.
// The attempt's guarded UPDATE finds it no longer requested; the Automation
// must then leave it alone, not hand the closed, refunded withdrawal to the
// Submitter, whose transfer would pay the user a second time.
func TestAutomationDoesNotSubmitAWithdrawalClosedBeforeItsAttempt(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cancelWhileTheRoundWaits(t, e)
}

// cancelWhileTheRoundWaits has support cancel a requested withdrawal of e
// in a transaction that commits only once the Automation's round waits for
// its row lock to record its attempt, and checks that the round leaves the
// cancelled, refunded withdrawal alone.
func cancelWhileTheRoundWaits(t *testing.T, e *env) {
	t.Helper()
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	e.tick(e.world.Now())

	var calls atomic.Int32
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			calls.Add(1)
			return nil
		})})
	require.NoError(t, err)

	// Support cancels it in a transaction that has not committed yet.
	cancelTx, err := e.db.BeginTxx(e.ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	require.NoError(t, err)
	defer func() { _ = cancelTx.Rollback() }()
	_, err = e.store.MarkFailedTx(e.ctx, cancelTx, w.ID, "cancelled by support")
	require.NoError(t, err)

	type result struct {
		round withdrawal.Round
		err   error
	}
	done := make(chan result, 1)
	go func() {
		r, err := auto.RunOnce(e.ctx)
		done <- result{r, err}
	}()
	// The round has read the withdrawal as requested and waits for the
	// cancellation's row lock to record its attempt.
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, e.db.GetContext(e.ctx, &n, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%submit_attempted_at = COALESCE%'`))
		return n > 0
	}, 10*time.Second, 10*time.Millisecond, "the round never waited to record its attempt")
	require.NoError(t, cancelTx.Commit())

	res := <-done
	require.NoError(t, res.err, "the round failed on the cancellation it should have seen and skipped")
	got := e.get(w.ID)
	require.Equal(t, withdrawal.StatusFailed, got.Status)
	require.Equal(t, map[string]string{"wd-1": "61"}, refunds(t, e.db))
	require.Zero(t, calls.Load(), "the Submitter was handed withdrawal %s, %s and refunded: its transfer pays the user twice", got.ID, got.Status)
	require.Equal(t, withdrawal.Round{}, res.round, "nothing was submitted")
}
