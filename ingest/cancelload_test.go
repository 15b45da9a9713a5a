package ingest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// Run's context ends while Run loads the checkpoint, and the statement in
// flight fails with a transient fault (the database going away as the
// process shuts down): Run returns the context's error, as it does
// everywhere else, not the fault it would have retried. A caller telling a
// shutdown from a failure by context.Canceled took this one for a failure.
// Found by TestModelExactlyOnce (seed 4: "crash: Run: ingest: load
// checkpoint: schema: looking up ...: pq: could not serialize access").
func TestCancelWhileLoadingCheckpointReturnsContextError(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	faulty := withFaults(t, b, &faultConnector{statement: func(q string) error {
		if strings.Contains(q, "txhistory_migration") {
			cancel()
			return &pq.Error{Code: "40001", Message: "could not serialize access (injected)"}
		}
		return nil
	}})
	err := newIngester(t, faulty, ingest.Config{}).Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
}
