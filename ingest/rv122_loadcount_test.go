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

// With MaxAttempts, Run gives up loading the checkpoint after that many
// attempts while the database is down: each failed attempt is a database
// fault counted, the last included, as acquireLock counts its own (Run
// counts no error that loading the checkpoint returns). The last went
// uncounted: two faults for three attempts.
func TestGivingUpOnLoadingTheCheckpointCountsEachAttempt(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 3)
	var refusals atomic.Int64
	faulty := withFaults(t, b, &faultConnector{connect: func() error {
		refusals.Add(1)
		return fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	}})
	ing := newIngester(t, faulty, ingest.Config{Lock: ingest.LockNone, MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := ing.Run(ctx)
	require.ErrorContains(t, err, "load checkpoint")
	require.Positive(t, refusals.Load(), "the test did not refuse what it meant to")
	require.Equal(t, int64(3), ing.Stats().Errors["database"], "three failed attempts at the checkpoint: %v", err)
}
