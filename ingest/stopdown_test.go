package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// Stop while a received batch cannot commit because the database is down:
// Run returns at once (what was not committed is streamed again by the
// next Run), as it does while the lock or the checkpoint read waits for
// the database, or the stream is retried. It kept retrying the batch
// until the database came back (forever with MaxAttempts 0): a process
// told to stop hangs for as long as the outage lasts.
func TestStopWhileABatchCannotCommit(t *testing.T) {
	b, srv := privateBundle(t)
	appendN(t, b.p, 0, 20)
	ing := newIngester(t, b, ingest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)

	require.NoError(t, srv.Stop(ctx))
	appendN(t, b.p, 20, 10)
	require.Eventually(t, func() bool { return ing.Stats().Errors["database"] >= 3 }, 20*time.Second, 5*time.Millisecond,
		"the batch's commit was not retried")
	ing.Stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		require.NoError(t, srv.Start(ctx))
		<-done
		t.Fatal("Run kept retrying the batch after Stop, until the database came back")
	}

	// Nothing was lost: the next Run ingests the rest.
	require.NoError(t, srv.Start(ctx))
	runToEnd(t, b, ingest.Config{})
	requireAllOnce(t, b)
}
