package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// A treasury on two synchronizers, the other one used seldom: a2 at 2ms,
// then b3 at 3ms on the default synchronizer, a4 at 4ms, b5 at 5ms (the
// last ingested). The dedup table is pruned as PruneBefore's documentation
// asks, no later than the oldest of the checkpoint's record times (a4's,
// 4ms), which deletes b3's id. After a node restore the runbook looks the
// other synchronizer up as of 4ms − 1µs and resumes below a2, so the replay
// meets b3 again: with its id pruned, ingestion stopped for good (running
// the runbook again plans the same rewind). PruneBefore must keep what that
// replay reads, as it does for the checkpoint's synchronizer.
func TestPruneWithinTheRuleKeepsWhatAnotherSynchronizersReplayReads(t *testing.T) {
	for _, shape := range []struct {
		name string
		// a2 and b3: a2's record time, and whether b3 comes after a4.
		a2ms     int
		b3AfterA bool
	}{
		{"before", 2, false},
		// a2 at a4's record time: the other synchronizer has no
		// transaction before it, and the runbook resumes below where the
		// participant has a4, after which b3 (with its earlier record
		// time, on the other clock) was ingested.
		{"at", 4, true},
	} {
		t.Run(shape.name, func(t *testing.T) {
			ctx := context.Background()
			b := newBundle(t)
			txs := []*ledger.Transaction{txAt(1, ledgertest.DefaultSynchronizer, 1), txAt(2, otherSynchronizer, shape.a2ms), txAt(3, ledgertest.DefaultSynchronizer, 3),
				txAt(4, otherSynchronizer, 4), txAt(5, ledgertest.DefaultSynchronizer, 5)}
			if shape.b3AfterA {
				txs[2], txs[3] = txs[3], txs[2]
			}
			_, err := b.p.Append(txs...)
			require.NoError(t, err)
			backup := b.p.Backup()
			ingestTo(t, b, b.p.LedgerEnd())
			// The other synchronizer moves on (another party's transaction).
			other := step{n: 6, other: true}.tx(time.Time{})
			other.SynchronizerID = otherSynchronizer
			_, err = b.p.Append(other)
			require.NoError(t, err)

			oldest := readState(t, b.db).Checkpoint.RecordTimes[otherSynchronizer]
			require.True(t, oldest.Equal(ledgertest.DefaultStartTime.Add(4*time.Millisecond)))
			dd, err := dedup.NewStore(schema.DefaultName)
			require.NoError(t, err)
			_, err = dd.PruneBefore(ctx, b.db, oldest)
			require.NoError(t, err)

			b.p.Restore(backup)
			rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
			require.NoError(t, err)
			require.NoError(t, recovery.Apply(ctx, b.db, rw))
			require.NoError(t, ingestErr(t, b), "%s", rw)
			h := readHistory(t, b.db)
			require.Empty(t, h.Duplicates)
			require.ElementsMatch(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00004", "tx-00005"}, updateIDs(h.Rows))
		})
	}
}
