package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// TestPruneWithinTheRuleKeepsWhatAnotherSynchronizersReplayReads's history
// (a2 at 2ms on the other synchronizer, b3 at 3ms, a4 at 4ms, b5 at 5ms),
// pruned within the rule as a daily retention job does: twice, with the
// same cut. The first prune keeps b3, ingested after a2, but deletes a2
// itself; the second then no longer finds a transaction before the other
// synchronizer's record time, takes a4 at it instead, and deletes b3, which
// the runbook's replay from a2 (still on the participant) reads again.
func TestPruneTwiceWithinTheRuleKeepsWhatAnotherSynchronizersReplayReads(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	_, err := b.p.Append(txAt(1, ledgertest.DefaultSynchronizer, 1), txAt(2, otherSynchronizer, 2), txAt(3, ledgertest.DefaultSynchronizer, 3),
		txAt(4, otherSynchronizer, 4), txAt(5, ledgertest.DefaultSynchronizer, 5))
	require.NoError(t, err)
	backup := b.p.Backup()
	ingestTo(t, b, b.p.LedgerEnd())
	other := step{n: 6, other: true}.tx(time.Time{})
	other.SynchronizerID = otherSynchronizer
	_, err = b.p.Append(other)
	require.NoError(t, err)

	oldest := readState(t, b.db).Checkpoint.RecordTimes[otherSynchronizer]
	dd, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	for range 2 {
		_, err = dd.PruneBefore(ctx, b.db, oldest)
		require.NoError(t, err)
	}
	ok, err := dd.Contains(ctx, b.db, "tx-00003")
	require.NoError(t, err)
	require.True(t, ok, "the second prune deleted b3's id, which the replay reads again")

	b.p.Restore(backup)
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	require.NoError(t, ingestErr(t, b), "%s", rw)
	h := readHistory(t, b.db)
	require.Empty(t, h.Duplicates)
	require.ElementsMatch(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00004", "tx-00005"}, updateIDs(h.Rows))
}
