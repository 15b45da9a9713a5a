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

// A batch whose commit fails MaxAttempts times on a database fault makes
// Run give up: Stats.Errors must count each failed attempt once. Batches
// one after the other counted the last attempt twice (the commit's retry
// loop, then Run with the error giving up); pipelined batches did not
// count the first (the batch's start, failed before the commit's loop),
// and the double count of the last made the total look right.
func TestGivingUpOnABatchCountsEachAttemptOnce(t *testing.T) {
	for _, c := range []struct {
		name     string
		maxConns int
	}{{"pipelined", 0}, {"one batch at a time", 1}} {
		t.Run(c.name, func(t *testing.T) {
			b := setup(t)
			appendN(t, b.p, 0, 10)
			var down atomic.Bool
			var refusals atomic.Int64
			refused := func(what string) func() error {
				return func() error {
					if down.Load() {
						refusals.Add(1)
						return fmt.Errorf("%s: %w", what, syscall.ECONNREFUSED)
					}
					return nil
				}
			}
			faulty := withFaults(t, b, &faultConnector{connect: refused("dial"), begin: refused("begin")})
			faulty.db.SetMaxOpenConns(c.maxConns)
			ing := newIngester(t, faulty, ingest.Config{Lock: ingest.LockNone, MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- ing.Run(ctx) }()
			require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)
			down.Store(true)
			appendN(t, b.p, 10, 5)
			err := <-done
			require.ErrorContains(t, err, "giving up on batch")
			require.ErrorContains(t, err, "after 3 attempts")
			require.Equal(t, int64(3), refusals.Load(), "the test did not refuse what it meant to")
			require.Equal(t, int64(3), ing.Stats().Errors["database"], "three failed attempts: %v", err)
		})
	}
}
