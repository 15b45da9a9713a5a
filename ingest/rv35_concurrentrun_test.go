package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// TestRV35SecondConcurrentRunIsRefused: Run called while a Run of the same
// Ingester is running shares the Run goroutine's state (the checkpoint,
// the lock, Stats) with it. It used to go on as a second ingester: under
// LockWait it waited for the lock its own Ingester holds, reporting the
// running Ingester as a standby (waiting_for_lock) and, once it gave up,
// as stopped, so that /healthz answered 503 "Run has returned" for an
// Ingester still ingesting (under LockNone both ran, racing on the
// checkpoint and calling HandleBatch from two goroutines). It must be
// refused at once, leaving the running one alone.
func TestRV35SecondConcurrentRunIsRefused(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	ing := newIngester(t, b, ingest.Config{LockPoll: 5 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, ingest.StateStreaming, ing.Stats().State)

	second, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	began := time.Now()
	err := ing.Run(second)
	require.Error(t, err, "a second Run of a running Ingester returned nil")
	require.False(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled),
		"a second Run of a running Ingester ran until its context ended (%s): %v", time.Since(began), err)
	require.ErrorContains(t, err, "already running")
	require.Equal(t, ingest.StateStreaming, ing.Stats().State, "the second Run changed the running Ingester's state")

	appendN(t, b.p, 20, 10)
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond,
		"the running Ingester stopped ingesting")
	ing.Stop()
	require.NoError(t, <-done)
	st := readState(t, b.db)
	require.Len(t, st.Effects, len(treasuryTxs(b.p)))
}
