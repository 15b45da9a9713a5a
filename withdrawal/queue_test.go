package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestFailingHeadDoesNotStarveNewerWithdrawals: the oldest requested
// withdrawals keep failing (a permanent INVALID_ARGUMENT for their
// receiver, a participant that times out on them, or an earlier attempt
// that now finds no pre-approval and is left to expire): they fill every
// round's batch, oldest first, and the newer withdrawals behind them must
// still be submitted, not held back until the failing ones expire.
func TestFailingHeadDoesNotStarveNewerWithdrawals(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10", "10", "10")
	for i, id := range []string{"wd-bad-1", "wd-bad-2", "wd-good-3", "wd-good-4"} {
		e.create(e.request(id, "5", cids[i]))
	}
	e.tick(e.world.Now())

	var mu sync.Mutex
	calls := map[string]int{}
	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		mu.Lock()
		calls[w.ID]++
		mu.Unlock()
		switch w.ID {
		case "wd-bad-1":
			return errors.New("rpc error: code = InvalidArgument desc = receiver party unknown")
		case "wd-bad-2":
			return fmt.Errorf("retry: %w", withdrawal.ErrNoPreapproval) // first time: failed; see below
		}
		return nil
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog, BatchSize: 2})
	require.NoError(t, err)
	// wd-bad-2 was handed to the Submitter before (a crash after the
	// participant accepted it): ErrNoPreapproval now leaves it requested.
	_, err = e.db.ExecContext(e.ctx, `UPDATE txhistory.withdrawal SET submit_attempted_at = now() WHERE id = 'wd-bad-2'`)
	require.NoError(t, err)

	for range 5 {
		_, err := auto.RunOnce(e.ctx)
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-good-3").Status,
		"5 rounds of batch size 2 and wd-good-3 was never handed to the Submitter (calls: %v)", calls)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-good-4").Status, "calls: %v", calls)
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-bad-1").Status)
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-bad-2").Status)
	require.GreaterOrEqual(t, calls["wd-bad-1"], 2, "the failing ones are still retried")
}

// TestConcurrentRoundsDoNotSubmitAWithdrawalTwice: two rounds run at
// once — two Automations during a rolling deploy, or RunOnce called beside
// Run — and list the same requested withdrawal. Each reads it as requested
// (no lock) and hands it to its Submitter: the same withdrawal submitted
// twice concurrently, against the Submitter contract ("from one goroutine
// at a time") and leaving the second to the participant's deduplication.
// Only one of them may hand it over.
func TestConcurrentRoundsDoNotSubmitAWithdrawalTwice(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.tick(e.world.Now())

	entered := make(chan string, 4)
	release := make(chan struct{})
	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		entered <- w.ID
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	var autos []*withdrawal.Automation
	for range 2 {
		a, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
		require.NoError(t, err)
		autos = append(autos, a)
	}
	rounds := make(chan withdrawal.Round, 2)
	for _, a := range autos {
		go func() {
			r, err := a.RunOnce(e.ctx)
			if err != nil {
				t.Error(err)
			}
			rounds <- r
		}()
	}
	require.Equal(t, "wd-1", <-entered)
	select {
	case id := <-entered:
		close(release)
		t.Fatalf("%s handed to a Submitter by both rounds at once", id)
	case <-time.After(time.Second):
	}
	close(release)
	r1, r2 := <-rounds, <-rounds
	require.Equal(t, 1, r1.Submitted+r2.Submitted)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-1").Status)
}
