package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// runInBackground runs ing.Run under ctx, for at most 30 s, and returns
// the channel its result arrives on.
func runInBackground(t *testing.T, ctx context.Context, ing *ingest.Ingester) <-chan error {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	return done
}

// requireStopEndsRun stops ing while its Run (done) waits, saying for
// what, and requires Run to return nil within 3 s. release lets a Run
// that still waits go on (the application gives a connection back), so
// that the test ends.
func requireStopEndsRun(t *testing.T, ing *ingest.Ingester, done <-chan error, waiting string, release func()) {
	t.Helper()
	ing.Stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(3 * time.Second):
		release()
		t.Fatalf("Run did not return within 3s of Stop while %s (returned %v once the application gave a connection back)", waiting, <-done)
	}
}
