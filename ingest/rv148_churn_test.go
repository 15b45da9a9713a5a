package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/cutproxy"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A tailing Ingester on a quiet ledger (the participant sends nothing on an
// idle stream: no transaction, no OffsetCheckpoint), whose connection a
// proxy ends every 300ms, as one with a maximum connection age does every
// few minutes: each stream worked until it was cut, and Run, with a small
// MaxAttempts, must not give up on what is normal churn.
func TestRV148IdleStreamChurnDoesNotExhaustMaxAttempts(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(time.Hour))
	appendN(t, b.p, 0, 5)
	proxy := cutproxy.New(t, b.p.Addr())
	b.client = dial(t, proxy.Addr(), nil)
	ing := newIngester(t, b, ingest.Config{MaxAttempts: 3})
	done := make(chan error, 1)
	go func() { done <- ing.Run(context.Background()) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)

	proxy.CutEvery(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Run gave up on connection churn after %d cuts: %v", proxy.Cuts(), err)
	case <-time.After(4 * time.Second):
	}
	require.GreaterOrEqual(t, proxy.Cuts(), 8)

	// Still ingesting through the churn.
	appendN(t, b.p, 5, 3)
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	ing.Stop()
	require.NoError(t, <-done)
	requireAllOnce(t, b)
}
