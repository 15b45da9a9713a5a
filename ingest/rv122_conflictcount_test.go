package ingest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// Two Ingesters without the lock (LockNone): the second moves the
// checkpoint while the first's batch is being read, and the first's commit
// meets checkpoint.ErrConflict, which stops its Run. That is one fault,
// counted once in Stats.Errors whether batches are pipelined or not.
// Pipelined, the batch in flight failing on the conflict was counted when
// settled, committed again the slow way (the same conflict), and counted
// again by Run with the error it returned.
func TestCheckpointConflictCountedOnce(t *testing.T) {
	for _, c := range []struct {
		name     string
		maxConns int
	}{{"pipelined", 0}, {"one batch at a time", 1}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b := setup(t)
			appendN(t, b.p, 0, 10)
			own := withFaults(t, b, &faultConnector{})
			own.db.SetMaxOpenConns(c.maxConns)
			gate := make(chan struct{})
			var opened sync.Once
			open := func() { opened.Do(func() { close(gate) }) }
			t.Cleanup(open)
			first := newIngester(t, own, ingest.Config{Lock: ingest.LockNone, Handler: gatedHandler{gate: gate, after: b.p.LedgerEnd()}})
			done := make(chan error, 1)
			go func() { done <- first.Run(ctx) }()
			require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)

			appendN(t, b.p, 10, 5) // the first waits in Prepare for these
			runToEnd(t, b, ingest.Config{Lock: ingest.LockNone})
			open()
			err := <-done
			require.ErrorIs(t, err, checkpoint.ErrConflict)
			var n int64
			for _, v := range first.Stats().Errors {
				n += v
			}
			require.Equal(t, int64(1), n, "one conflict: %v; counted %v", err, first.Stats().Errors)
		})
	}
}
