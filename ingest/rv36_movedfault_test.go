package ingest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// TestRV36CheckpointMovedIsNoFaultSinceTheRead: the ingester that took the
// lock meets, at its commit, the checkpoint moved by the one that lost it
// (TestConflictWhileHoldingTheLockResumes), reads the checkpoint again and
// resumes from it. The database answered that read: Stats.DatabaseErrorAt,
// compared with LastCommit and CheckpointRead, must not tell a database
// fault since (metrics' /healthz is then not "caught up" on a quiet ledger).
func TestRV36CheckpointMovedIsNoFaultSinceTheRead(t *testing.T) {
	ctx := context.Background()
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	appendN(t, b.p, 0, 20)
	first, done1, killed := runThenKillLock(ctx, t, b, ingest.Config{LockCheck: -1, LockPoll: 10 * time.Millisecond})

	gate := make(chan struct{})
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	t.Cleanup(open)
	second := newIngester(t, b, ingest.Config{Handler: gatedHandler{gate: gate, after: b.p.LedgerEnd()}, LockPoll: 10 * time.Millisecond})
	done2 := make(chan error, 1)
	go func() { done2 <- second.Run(ctx) }()
	require.Eventually(t, func() bool {
		h := lockHolders(t, b.db)
		return len(h) == 1 && h[0] != killed && second.Stats().State == ingest.StateStreaming
	}, 10*time.Second, 5*time.Millisecond, "the second takes the lock and streams from the checkpoint")

	appendN(t, b.p, 20, 10)
	require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	open()
	require.Eventually(t, func() bool { return second.Stats().Errors["database"] >= 1 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		s := second.Stats()
		return s.Offset == b.p.LedgerEnd() && s.State == ingest.StateStreaming
	}, 10*time.Second, 5*time.Millisecond, "the second resumes from the moved checkpoint")
	first.Stop()
	require.NoError(t, <-done1)

	s := second.Stats()
	answered := s.LastCommit
	if s.CheckpointRead.After(answered) {
		answered = s.CheckpointRead
	}
	require.False(t, s.DatabaseErrorAt.After(answered),
		"a database fault at %s after the database last answered at %s (last commit %s, checkpoint read %s): the checkpoint conflict was counted after the checkpoint was read again",
		s.DatabaseErrorAt.Format(time.RFC3339Nano), answered.Format(time.RFC3339Nano), s.LastCommit.Format(time.RFC3339Nano), s.CheckpointRead.Format(time.RFC3339Nano))
	second.Stop()
	require.NoError(t, <-done2)
}
