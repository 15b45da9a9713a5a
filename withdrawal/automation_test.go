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

func TestAutomation(t *testing.T) {
	t.Run("default", func(t *testing.T) { automationScenario(t, false) })
	// An Integration DB whose default is SERIALIZABLE: the store runs its
	// transactions at READ COMMITTED, as it is written for.
	t.Run("serializable database default", func(t *testing.T) { automationScenario(t, true) })
}

func automationScenario(t *testing.T, serializable bool) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	if serializable {
		e.serializableDefault()
	}
	cids := e.mint("10", "10", "10", "10", "10")
	for i, id := range []string{"wd-a", "wd-b", "wd-c", "wd-d"} {
		e.create(e.request(id, "5", cids[i]))
	}
	e.tick(e.world.Now())
	// Created after the last batch with its trecTgt already passed: due,
	// but the reconciler has not run for it yet.
	lapsed := e.request("wd-lapsed", "5", cids[4])
	lapsed.TrecTgt = e.times[e.world.SynchronizerID].Add(-time.Second)
	e.create(lapsed)

	var mu sync.Mutex
	calls := map[string]int{}
	var order []string
	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		mu.Lock()
		calls[w.ID]++
		order = append(order, w.ID)
		mu.Unlock()
		switch w.ID {
		case "wd-b":
			return fmt.Errorf("submitting %s: %w", w.ID, withdrawal.ErrNoPreapproval)
		case "wd-c":
			return errors.New("participant unavailable")
		case "wd-d":
			// The ledger is faster than the automation: ingestion completes
			// the withdrawal before it is marked submitted.
			e.apply(e.transfer(w, "0"))
		}
		return nil
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)

	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Submitted: 2, Failed: 1, Errors: 1}, round)
	require.Equal(t, []string{"wd-a", "wd-b", "wd-c", "wd-d"}, order, "oldest first, the lapsed one left out")
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-a").Status)
	b := e.get("wd-b")
	require.Equal(t, withdrawal.StatusFailed, b.Status)
	require.Contains(t, b.FailureReason, "pre-approval")
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-c").Status)
	require.Equal(t, withdrawal.StatusCompleted, e.get("wd-d").Status)
	// The automation left wd-lapsed to the reconciler, which expired it
	// with the next batch (wd-d's).
	require.Equal(t, withdrawal.StatusExpired, e.get("wd-lapsed").Status)
	require.Equal(t, map[string]string{"wd-b": "6", "wd-lapsed": "6"}, refunds(t, e.db))

	// The next round retries only wd-c.
	round, err = auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Errors: 1}, round)
	require.Equal(t, map[string]int{"wd-a": 1, "wd-b": 1, "wd-c": 2, "wd-d": 1}, calls)

	// A closed gate pauses it.
	require.NoError(t, e.store.Disable(e.ctx, "restore"))
	round, err = auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Paused: true, GateReason: "restore"}, round)
	require.Equal(t, 2, calls["wd-c"])

	// Run loops until its context ends.
	require.NoError(t, e.store.Enable(e.ctx, "done"))
	ctx, cancel := context.WithCancel(e.ctx)
	rounds := make(chan withdrawal.Round, 100)
	loop, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog,
		PollInterval: 10 * time.Millisecond, OnRound: func(r withdrawal.Round) { rounds <- r }})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	<-rounds
	<-rounds
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

// TestDisableWaitsForSubmission: Disable returns only once the submission
// in flight is recorded; the automation submits nothing after it.
func TestDisableWaitsForSubmission(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.create(e.request("wd-2", "5", cids[1]))
	entered, release := make(chan string, 2), make(chan struct{})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			entered <- w.ID
			<-release
			return nil
		})})
	require.NoError(t, err)
	rounds := make(chan withdrawal.Round, 1)
	go func() {
		r, err := auto.RunOnce(e.ctx)
		require.NoError(t, err)
		rounds <- r
	}()
	require.Equal(t, "wd-1", <-entered)
	disabled := make(chan error, 1)
	go func() { disabled <- e.store.Disable(e.ctx, "restore") }()
	select {
	case err := <-disabled:
		t.Fatalf("Disable returned during a submission: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-disabled)
	r := <-rounds
	require.Equal(t, withdrawal.Round{Submitted: 1, Paused: true, GateReason: "restore"}, r)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-1").Status)
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-2").Status)
	require.Empty(t, entered)
}
