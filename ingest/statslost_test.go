package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// A replayed batch (every transaction dropped by dedup) whose COMMIT
// reply is lost is recognised on its retry as committed; Stats must still
// count its transactions as skipped, not as new. The retry counted every
// transaction of the batch as new (Stats.Transactions), whatever the
// commit had dropped.
func TestLostCommitReplyKeepsStatsOfSkipped(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 100)
	runToEnd(t, b, ingest.Config{})
	before := readState(t, b.db)
	rewindToStart(t, b, before.Checkpoint.Offset)

	lr := &lostReply{}
	lr.failAt.Store(2)
	faulty := withFaults(t, b, &faultConnector{afterCommit: lr.afterCommit})
	ing := newIngester(t, faulty, ingest.Config{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		MaxBatchSize: 20, EndOffset: b.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	require.True(t, lr.lost.Load(), "the lost reply was not injected")
	requireAllOnce(t, b)
	require.Equal(t, int64(0), ing.Stats().Transactions, "transactions counted as new")
	require.Equal(t, int64(len(treasuryTxs(b.p))), ing.Stats().Skipped)
}
