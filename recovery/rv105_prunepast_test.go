package recovery_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// A retention job pruned the dedup table with a cut later than another
// synchronizer's ingested record time tS (a second synchronizer the
// treasury uses seldom), but before the checkpoint's synchronizer's
// transactions after it. The restored
// participant recovers that synchronizer first, and the runbook's replay
// reaches back to its transactions at tS, which are not behind the
// ingested tS. Their ids must still be known: a silent second application
// of each is what an operator cannot notice; an error naming the
// transaction would at least stop ingestion.
func TestRV105PruneLaterThanAnotherSynchronizersTime(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	backup, ids := otherGroup(t, b, 5)

	dd, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	_, err = dd.PruneBefore(ctx, b.db, txOn(8, ledgertest.DefaultSynchronizer).RecordTime)
	require.NoError(t, err)

	b.p.Restore(backup, ledgertest.WithSynchronizersFirst(otherSynchronizer))
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	err = ingestErr(t, b)
	h := readHistory(t, b.db)
	require.Empty(t, h.Duplicates, "applied twice after the prune (offRecovery %d, ingestion: %v)", rw.To, err)
	require.NoError(t, err)
	require.ElementsMatch(t, ids, updateIDs(h.Rows), "offRecovery %d (%s)", rw.To, rw)
}

// The cut is a day after everything: the checkpoint synchronizer's ids
// before the last one before tRecovery are gone too. The runbook's replay
// meets them behind the ingested record time and ingestion stops, as
// PruneBefore's doc says. Its error told to run the runbook, which plans
// the same rewind and ends the same way (unless the failed ingestion
// committed, before it, the transaction that made the plan reach back):
// it must say that dedup does not know the transaction, and name the
// pruning as a cause.
func TestRV105PrunedReplayNamesThePruning(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	backup, ids := otherGroup(t, b, 5)

	dd, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	_, err = dd.PruneBefore(ctx, b.db, ledgertest.DefaultStartTime.Add(24*time.Hour))
	require.NoError(t, err)
	// PruneBefore now keeps what the replay from the other synchronizer's
	// look-up reads (TestPruneWithinTheRuleKeepsWhatAnotherSynchronizersReplayReads):
	// tx-00008's id is deleted by hand, as a prune by an earlier release did.
	_, err = b.db.Exec(`DELETE FROM txhistory.ingested_update WHERE update_id = 'tx-00008'`)
	require.NoError(t, err)

	b.p.Restore(backup, ledgertest.WithSynchronizersFirst(otherSynchronizer))
	late := ids[len(ids)-2] // otherGroup's late transaction at tS on the other synchronizer, never ingested
	applied := false        // whether run 1's ingestion applied it before it failed
	for run := 1; run <= 2; run++ {
		rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
		require.NoError(t, err)
		require.NoError(t, recovery.Apply(ctx, b.db, rw))
		err = ingestErr(t, b)
		if run == 2 && applied {
			// The replay of run 1 meets the other synchronizer's
			// transaction at tS that was never ingested (otherGroup's
			// late one) before tx-00008. When the Ingester committed it
			// in a batch before tx-00008's (a batch is committed once
			// nothing decoded is waiting: timing), run 2 has no
			// transaction left to lower offRecovery for: it plans a
			// rewind that does not reach tx-00008, and ingestion
			// completes, nothing applied twice or left out.
			require.NoError(t, err, "runbook run 2, after run 1 applied %s before tx-00008: %s", late, rw)
			require.ElementsMatch(t, ids, updateIDs(readHistory(t, b.db).Rows), "offRecovery %d (%s)", rw.To, rw)
			break
		}
		require.ErrorIs(t, err, ingest.ErrParticipantRestored, "runbook run %d", run)
		require.ErrorContains(t, err, "tx-00008")
		require.ErrorContains(t, err, "dedup.Store.PruneBefore", "runbook run %d: the error does not say the replayed transaction's id may have been pruned", run)
		applied = slices.ContainsFunc(readHistory(t, b.db).Rows, func(r string) bool { return strings.HasPrefix(r, late+" ") })
	}
	require.Empty(t, readHistory(t, b.db).Duplicates)
}
