package ingest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// The database goes down while a batch is to be committed: the batch's
// commit backs off and retries for as long as it is down (MaxAttempts 0).
// Stats.State said "streaming" (reading and committing updates) all that
// time, while nothing advanced; an operator, or a probe reading State,
// must see "retrying" (backing off after a transient fault), and
// "streaming" again once the batch committed.
func TestStateIsRetryingWhileABatchCommitBacksOff(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 10)
	var down atomic.Bool
	refused := func(what string) func() error {
		return func() error {
			if down.Load() {
				return fmt.Errorf("%s: %w", what, syscall.ECONNREFUSED)
			}
			return nil
		}
	}
	faulty := withFaults(t, b, &faultConnector{connect: refused("dial"), begin: refused("begin")})
	ing := newIngester(t, faulty, ingest.Config{Lock: ingest.LockNone, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, ingest.StateStreaming, ing.Stats().State)

	down.Store(true)
	appendN(t, b.p, 10, 5)
	require.Eventually(t, func() bool { return ing.Stats().Errors["database"] >= 3 }, 20*time.Second, 5*time.Millisecond,
		"the batch's commit was not retried")
	s := ing.Stats()
	require.Less(t, s.Offset, b.p.LedgerEnd(), "the batch committed while the database was down")
	require.Equal(t, ingest.StateRetrying, s.State, "the state while the batch's commit backs off")

	down.Store(false)
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, ingest.StateStreaming, ing.Stats().State, "the state once the batch committed")
	ing.Stop()
	require.NoError(t, <-done)
}
