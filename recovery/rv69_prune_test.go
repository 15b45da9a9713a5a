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

// The dedup table pruned whatever t (here a day after everything) while
// the last ingested transaction is in the middle of a group of thousands
// sharing tRecovery: PruneBefore keeps what ModeNonUnique replays, and
// the runbook's rewind into the group applies nothing twice.
func TestRV69PruneThenRewindIntoTheGroup(t *testing.T) {
	steps := groupScript()
	want := reference(t, steps)
	ctx := context.Background()
	b := newBundle(t)
	play(t, b.p, steps[:30])
	backup := b.p.Backup()
	play(t, b.p, steps[30:])
	mid := 41 + groupSize/2
	ingestSmall(t, b, offsetOf(t, b.p, txID(mid)))

	dd, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	pruned, err := dd.PruneBefore(ctx, b.db, ledgertest.DefaultStartTime.Add(24*time.Hour))
	require.NoError(t, err)
	require.Positive(t, pruned)
	var kept, applied int
	tRecovery := readState(t, b.db).Checkpoint.RecordTime
	require.NoError(t, b.db.Get(&kept, `SELECT count(*) FROM txhistory.ingested_update WHERE record_time = $1`, tRecovery))
	require.NoError(t, b.db.Get(&applied, `SELECT count(*) FROM effects WHERE record_time = $1`, tRecovery))
	require.Greater(t, applied, groupSize/3)
	require.Equal(t, applied, kept, "PruneBefore deleted ids at tRecovery")

	b.p.Restore(backup)
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	ingestSmall(t, b, b.p.LedgerEnd())
	got := readHistory(t, b.db)
	require.Empty(t, got.Duplicates, "applied twice (offRecovery %d)", rw.To)
	require.Equal(t, want, got)
}

// otherGroup plays, on b's participant: tx 1 (default synchronizer) and
// tx 2 (the other one), the backup, n transactions on the other
// synchronizer sharing one record time tS, ten on the default one, all
// ingested; then, with ingestion stopped, one more on the other
// synchronizer at tS (the group is not over) and one on the default one.
// It returns the backup and every update id in order.
func otherGroup(t testing.TB, b *bundle, n int) (ledgertest.Snapshot, []string) {
	t.Helper()
	var ids []string
	add := func(txs ...*ledger.Transaction) {
		_, err := b.p.Append(txs...)
		require.NoError(t, err)
		for _, tx := range txs {
			ids = append(ids, tx.UpdateID)
		}
	}
	add(txOn(1, ledgertest.DefaultSynchronizer), txOn(2, otherSynchronizer))
	backup := b.p.Backup()
	tS := txOn(3, otherSynchronizer).RecordTime
	var group []*ledger.Transaction
	for i := 0; i < n; i++ {
		tx := txOn(3+i, otherSynchronizer)
		tx.RecordTime = tS
		group = append(group, tx)
	}
	add(group...)
	for i := 0; i < 10; i++ {
		add(txOn(3+n+i, ledgertest.DefaultSynchronizer))
	}
	ingestSmall(t, b, b.p.LedgerEnd())
	late := txOn(3+n+10, otherSynchronizer)
	late.RecordTime = tS
	add(late, txOn(3+n+11, ledgertest.DefaultSynchronizer))
	return backup, ids
}

// A group of thousands at the ingested record time tS of another
// synchronizer, which goes on after ingestion stopped; the dedup table
// pruned as PruneBefore advises (before the oldest of the checkpoint's
// record times); the restored participant recovers the other
// synchronizer first. The runbook lowers offRecovery below the group,
// whose transactions come again (dropped) with the one not ingested yet.
func TestRV69OtherSynchronizersGroupAfterPrune(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	backup, ids := otherGroup(t, b, groupSize)

	cp := readState(t, b.db).Checkpoint
	oldest := cp.RecordTime
	for _, rt := range cp.RecordTimes {
		if rt.Before(oldest) {
			oldest = rt
		}
	}
	dd, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	_, err = dd.PruneBefore(ctx, b.db, oldest)
	require.NoError(t, err)

	b.p.Restore(backup, ledgertest.WithSynchronizersFirst(otherSynchronizer))
	start := time.Now()
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	t.Logf("Plan took %s: offRecovery %d", time.Since(start), rw.To)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	ingestSmall(t, b, b.p.LedgerEnd())
	h := readHistory(t, b.db)
	require.Empty(t, h.Duplicates)
	require.ElementsMatch(t, ids, updateIDs(h.Rows), "offRecovery %d (%s)", rw.To, rw)
}

// How the runbook's cost grows with the size of a group at another
// synchronizer's ingested record time (logged, not asserted).
func TestRV69PlanCostOtherSynchronizersGroup(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	for _, n := range []int{1000, 4000} {
		ctx := context.Background()
		b := newBundle(t)
		backup, _ := otherGroup(t, b, n)
		b.p.Restore(backup, ledgertest.WithSynchronizersFirst(otherSynchronizer))
		calls := b.p.Calls("GetUpdateById")
		start := time.Now()
		_, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
		require.NoError(t, err)
		t.Logf("group of %d: Plan took %s, %d GetUpdateById calls", n, time.Since(start), b.p.Calls("GetUpdateById")-calls)
	}
}
