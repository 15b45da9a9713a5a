package recovery_test

import (
	"time"

	"context"
	"github.com/cantonx/txhistory/ledger"
	"testing"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The participant pruned up to the checkpoint (docs/OPERATIONS.md: prune
// only below or at the checkpoint), in the middle of the transactions that
// share tRecovery, and was backed up after that. Everything up to the
// pruning offset was ingested. The −1µs look-up answers an offset below the
// pruning offset: resuming there fails with PARTICIPANT_PRUNED_DATA_ACCESSED
// although resuming at the pruning offset loses nothing. The runbook must
// produce a checkpoint ingestion can resume from.
func TestNonUniqueOffRecoveryBelowPruningOffset(t *testing.T) {
	ctx := context.Background()
	steps := script(80, 40, 41, 42, 43) // tx 39 to 43 share T
	want := reference(t, steps)

	b := newBundle(t)
	play(t, b.p, steps[:39])
	ingestTo(t, b, b.p.LedgerEnd()) // up to tx-00039, the first at T
	pruneAt := offsetOf(t, b.p, "tx-00039")
	require.NoError(t, b.p.Prune(pruneAt)) // at the checkpoint: nothing un-ingested is pruned
	backup := b.p.Backup()
	play(t, b.p, steps[39:])
	ingestTo(t, b, offsetOf(t, b.p, "tx-00040")) // stopped half-way through T
	b.p.Restore(backup)

	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	t.Logf("offRecovery %d, participant pruned up to %d", rw.To, b.p.PrunedOffset())
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	require.NoError(t, ingestErr(t, b), "ingestion resumes from offRecovery %d (pruned up to %d)", rw.To, b.p.PrunedOffset())
	require.Equal(t, want, readHistory(t, b.db))
}

// The setting of TestPlanWithPrunedLastTransaction with non-unique record
// times: the participant pruned up to the checkpoint, the last ingested
// transaction tx-00040, the second of five sharing tRecovery, and the node
// backup was taken after that. The participant has processed tRecovery and
// can never serve tx-00040 again; the runbook must say so at once
// (ledger.ErrPruned, naming the update) rather than wait for
// Options.Timeout and report that tRecovery is not processed yet. It waited
// because the highest offset at tRecovery (tx-00043) lies above the pruning
// offset.
func TestPlanWithPrunedLastTransactionAmongEqualRecordTimes(t *testing.T) {
	ctx := context.Background()
	steps := script(80, 40, 41, 42, 43)
	b := newBundle(t)
	play(t, b.p, steps[:43]) // up to tx-00043
	ingestTo(t, b, offsetOf(t, b.p, "tx-00040"))
	require.NoError(t, b.p.Prune(offsetOf(t, b.p, "tx-00040"))) // at the checkpoint
	backup := b.p.Backup()
	play(t, b.p, steps[43:])
	b.p.Restore(backup)

	o := options(recovery.ModeNonUnique)
	o.Timeout = 3 * time.Second
	start := time.Now()
	_, err := recovery.Plan(ctx, b.db, b.client, o)
	t.Logf("after %s: %v", time.Since(start).Round(time.Millisecond), err)
	require.Error(t, err)
	require.NotErrorIs(t, err, recovery.ErrNotCaughtUp, "the participant processed tRecovery; it pruned the last ingested transaction")
	require.ErrorIs(t, err, ledger.ErrPruned)
	require.ErrorContains(t, err, "tx-00040")
}
