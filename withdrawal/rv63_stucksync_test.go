package withdrawal_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The restored database has a withdrawal in flight on B
// (Request.SynchronizerID), a synchronizer whose record time no longer
// moves (the participant has left it; or the request names it wrongly).
// Config.Synchronizer is A, and A passes tSafe: the store's clock is past
// tSafe and ingestion runs, but step 3 waits for B and holds the gate
// closed for good. Its progress must say that B is what it waits for, not
// only repeat B's record time as "the ingested record time" and, once
// StillAfter passed, ask whether ingestion is running: the operator checks
// ingestion, finds it running and its record time past tSafe, and cannot
// tell why the gate stays closed.
func TestRestoreProgressNamesTheSynchronizerItWaitsFor(t *testing.T) {
	l, holdings := newTwoSyncLive(t, "100")
	var err error
	require.NoError(t, l.settle())
	r := l.submittedOn(syncB, "wd-on-b", "40", holdings[0])
	tSafe := r.TrecTgt.Add(time.Second)

	var passed atomic.Bool // A has passed tSafe: step 3's progress since then is kept
	run := startStep3(l, tSafe, passed.Load)

	l.advance(tSafe.Sub(l.now) + time.Second)
	l.caughtUp()
	clock, err := l.store.IngestedTime(l.ctx)
	require.NoError(t, err)
	require.True(t, clock.After(tSafe), "the store's clock is not past tSafe")
	passed.Store(true)
	time.Sleep(time.Second)
	require.ErrorIs(t, run.stop(), context.Canceled, "the gate opened while B is before tSafe")

	msgs := run.messages()
	require.NotEmpty(t, msgs)
	last := msgs[len(msgs)-1]
	require.Contains(t, last, syncB, "step 3's progress does not say that it waits for synchronizer B: %q", last)
	require.NotContains(t, last, "is ingestion running?", "step 3 asks whether ingestion is running, while it runs and the store's clock is past tSafe")
}
