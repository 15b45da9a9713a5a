package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// An Ingester that loses its lock in the middle of the replay after a
// rewind, while another one finishes the replay, takes the lock again and
// reloads the checkpoint: it must resume as a fresh process would, not as
// one still in the replay. Otherwise the checkpoint stops naming the last
// ingested transaction (tRecovery of the next restore) for as long as no
// transaction of the rewound synchronizer comes, and a record time going
// back on another synchronizer is no longer taken for a restore.
func TestLockRetakenAfterTheReplayEndedElsewhere(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id, sync string, n int, rt time.Time) *ledger.Transaction {
		tx := simpleTx(treasury, n)
		tx.UpdateID, tx.SynchronizerID, tx.RecordTime = id, sync, rt
		return tx
	}
	b := setup(t)
	var as []*ledger.Transaction
	for i := 1; i <= 10; i++ {
		as = append(as, mk(fmt.Sprintf("a%d", i), "A", i, t0.Add(time.Duration(i)*time.Second)))
	}
	out, err := b.p.Append(as...)
	require.NoError(t, err)
	runToEndAt(t, b, b.p.LedgerEnd())
	last := out[len(out)-1]

	// A rewind to a5 (as the runbook's Apply writes it): a6..a10 are replayed.
	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	tx, err := b.db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, store.RewindTx(ctx, tx, checkpoint.Rewind{From: b.p.LedgerEnd(), To: out[4].Offset,
		RecoveryTime: last.RecordTime, SynchronizerID: "A", Mode: "non-unique"}))
	require.NoError(t, tx.Commit())

	// X replays a6 and a7, then waits (its Prepare) for the rest.
	gate := make(chan struct{})
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	t.Cleanup(open)
	x := newIngester(t, b, ingest.Config{Handler: gatedHandler{gate: gate, after: out[6].Offset}, LockCheck: 20 * time.Millisecond, LockPoll: 10 * time.Millisecond})
	doneX := make(chan error, 1)
	go func() { doneX <- x.Run(ctx) }()
	require.Eventually(t, func() bool { return x.Stats().Offset == out[6].Offset }, 10*time.Second, 5*time.Millisecond)
	killed := killLockHolder(t, b.db)

	// Y takes the lock and finishes the replay.
	y := newIngester(t, b, ingest.Config{LockPoll: 10 * time.Millisecond})
	doneY := make(chan error, 1)
	go func() { doneY <- y.Run(ctx) }()
	require.Eventually(t, func() bool {
		h := lockHolders(t, b.db)
		return len(h) == 1 && h[0] != killed && y.Stats().Offset == b.p.LedgerEnd()
	}, 10*time.Second, 5*time.Millisecond)
	y.Stop()
	require.NoError(t, <-doneY)
	cp := readState(t, b.db).Checkpoint
	require.Equal(t, last.UpdateID, cp.UpdateID)
	require.Equal(t, last.Offset, cp.UpdateOffset, "Y ended the replay")

	// X goes on: it takes the lock again and reloads the checkpoint.
	open()
	require.Eventually(t, func() bool { return len(lockHolders(t, b.db)) == 1 }, 10*time.Second, 5*time.Millisecond)
	// New transactions, on synchronizer B.
	bs, err := b.p.Append(mk("b1", "B", 11, t0.Add(20*time.Second)), mk("b2", "B", 12, t0.Add(21*time.Second)))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return x.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	x.Stop()
	require.NoError(t, <-doneX)
	requireAllOnce(t, b)

	cp = readState(t, b.db).Checkpoint
	require.Equal(t, bs[1].UpdateID, cp.UpdateID, "the checkpoint names the last ingested transaction")
	require.Equal(t, bs[1].Offset, cp.UpdateOffset)
	require.Equal(t, "B", cp.SynchronizerID)
}
