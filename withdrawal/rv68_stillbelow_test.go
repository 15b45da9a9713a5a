package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// As TestRestoreProgressNamesTheSynchronizerItWaitsFor (a restored
// withdrawal in flight on B, whose record time no longer moves: the
// participant has left it), but the store's clock, on A, is still before
// tSafe: it moves (ingestion runs) while the ingested record time step 3
// waits on, B's, stands still. Once StillAfter has passed, step 3's
// progress must name B as what stands still, not ask whether ingestion is
// running: the operator finds it running, A moving, and cannot tell that
// B will keep the gate closed for good once A passes tSafe (a TTL later).
func TestRestoreProgressNamesTheStillSynchronizerBeforeTSafe(t *testing.T) {
	l, holdings := newTwoSyncLive(t, "100")
	var err error
	require.NoError(t, l.settle())
	r := l.submittedOn(syncB, "wd-on-b", "40", holdings[0])
	tSafe := r.TrecTgt.Add(time.Second)

	run := startStep3(l, tSafe, nil)

	// A moves, short of tSafe, for twice StillAfter; B stands still.
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		l.advance(time.Second)
		l.caughtUp()
		time.Sleep(20 * time.Millisecond)
	}
	clock, err := l.store.IngestedTime(l.ctx)
	require.NoError(t, err)
	require.True(t, clock.Before(tSafe), "the store's clock passed tSafe")
	require.ErrorIs(t, run.stop(), context.Canceled)

	msgs := run.messages()
	require.NotEmpty(t, msgs)
	last := msgs[len(msgs)-1]
	require.NotContains(t, last, "is ingestion running?", "step 3 asks whether ingestion is running, while it runs and the store's clock moves")
	require.Contains(t, last, syncB, "step 3's progress does not say that synchronizer B stands still: %q", last)
}

// With ingestion stopped, B behind A and both standing still, step 3 still
// asks whether ingestion is running, rather than naming B.
func TestRestoreProgressAsksForIngestionWhenNothingMoves(t *testing.T) {
	l, holdings := newTwoSyncLive(t, "100")
	l.advance(time.Second)
	l.caughtUp()
	r := l.submittedOn(syncB, "wd-on-b", "40", holdings[0])
	l.stopIngester()

	run := startStep3(l, r.TrecTgt.Add(time.Second), nil)
	time.Sleep(time.Second)
	require.ErrorIs(t, run.stop(), context.Canceled)
	msgs := run.messages()
	require.NotEmpty(t, msgs)
	last := msgs[len(msgs)-1]
	require.Contains(t, last, "is ingestion running?")
	require.NotContains(t, last, "but not the synchronizers")
}
