package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// Stop while the database is down right after a batch's COMMIT whose reply
// was lost: the batch did commit. Run returns nil without knowing (90a5873),
// but it logged "stopped before the batch could commit; the next run
// ingests it again", which is false: the next run finds it committed and
// ingests none of it again (its transaction set aside there is never
// logged nor counted either). The log must say that the outcome is
// unknown.
func TestStopAfterALostCommitReplyDoesNotClaimTheBatchIsLost(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	// Once armed, the reply to the first COMMIT is lost (the transaction
	// commits on the server) and every new transaction and connection is
	// refused after it, as by a database that went down right after it: the
	// usual way a COMMIT reply is lost.
	var armed, down atomic.Bool
	refused := func(what string) func() error {
		return func() error {
			if down.Load() {
				return fmt.Errorf("%s: %w", what, syscall.ECONNREFUSED)
			}
			return nil
		}
	}
	faulty := withFaults(t, b, &faultConnector{connect: refused("dial"), begin: refused("begin"),
		afterCommit: func([]string) error {
			if armed.CompareAndSwap(true, false) {
				down.Store(true)
				return errReplyLost()
			}
			return nil
		}})
	var logs syncbuf.Buffer
	ing := newIngester(t, faulty, ingest.Config{Lock: ingest.LockNone,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)

	end0 := b.p.LedgerEnd()
	armed.Store(true)
	appendN(t, b.p, 20, 10)
	require.Eventually(t, func() bool { return ing.Stats().Errors["database"] >= 3 }, 20*time.Second, 5*time.Millisecond,
		"the batch's commit was not retried")
	ing.Stop()
	require.NoError(t, <-done)

	st := readState(t, b.db)
	require.Greater(t, st.Checkpoint.Offset, end0, "the batch whose reply was lost did not commit: the test did not inject what it meant to")
	require.NotContains(t, logs.String(), "the next run ingests it again", "said of a batch that had committed")
	require.True(t, strings.Contains(logs.String(), "may have committed"), "the log does not say that the batch's outcome is unknown:\n%s", logs.String())
}
