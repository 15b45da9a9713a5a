package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// PostgreSQL goes down under a tailing Ingester holding the lock (the
// default): it loses the lock's session and retries taking the lock again,
// with backoff, for as long as the database is down. Stats.Errors counted
// the lost lock once and none of those attempts, so that
// txhistory_errors_total{kind="database"} stood still during the outage
// (an alert on its increase resolved while the database was still down),
// where an Ingester without the lock (LockNone), retrying its batch, counts
// every attempt. Each failed attempt is a database fault counted.
func TestDatabaseFaultsCountedWhileRetakingTheLock(t *testing.T) {
	b, srv := privateBundle(t)
	appendN(t, b.p, 0, 10)
	ing := newIngester(t, b, ingest.Config{LockCheck: 50 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)

	require.NoError(t, srv.Stop(context.Background()))
	require.Eventually(t, func() bool { return ing.Stats().Errors["database"] > 0 }, 20*time.Second, 5*time.Millisecond,
		"the lost lock was not noticed")
	first := ing.Stats().Errors["database"]
	time.Sleep(2 * time.Second) // some 40 attempts at the lock, 50 ms apart at most
	during := ing.Stats()
	require.GreaterOrEqual(t, during.Errors["database"], first+5,
		"the attempts at the lock while the database is down are not counted: %+v", during.Errors)
	require.Equal(t, ingest.StateRetrying, during.State)

	require.NoError(t, srv.Start(context.Background()))
	appendN(t, b.p, 10, 5)
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 30*time.Second, 5*time.Millisecond)
	ing.Stop()
	require.NoError(t, <-done)
}

// With MaxAttempts, Run gives up taking the lock again after that many
// attempts: each is counted, the last included (Run counts no error
// that taking the lock returns), besides the lost lock itself.
func TestGivingUpOnTheLockCountsEachAttempt(t *testing.T) {
	b, srv := privateBundle(t)
	appendN(t, b.p, 0, 10)
	ing := newIngester(t, b, ingest.Config{LockCheck: 50 * time.Millisecond, MaxAttempts: 3, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)

	require.NoError(t, srv.Stop(context.Background()))
	err := <-done
	require.ErrorContains(t, err, "take ingestion lock: giving up after 3 attempts")
	require.Equal(t, int64(1+3), ing.Stats().Errors["database"], "the lost lock and three attempts at it: %v", err)
}
