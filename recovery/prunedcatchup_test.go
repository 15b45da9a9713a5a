package recovery_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// tx 39 to 43 share tRecovery. The participant pruned up to tx-00040, below
// the checkpoint (tx-00041 ingested then), and was backed up holding tx 1
// to 41. Ingestion went on to tx-00042, the last ingested transaction. The
// restored participant is still catching up: it has processed tx-00041 (so
// tRecovery is processed and the exact look-up answers tx-00041's offset)
// but not yet tx-00042. Nothing the runbook needs is pruned: tx-00042 comes
// back with the catch-up, and resuming at the pruning offset loses nothing.
// Plan must wait for the participant, not fail at once with ErrPruned
// telling the operator to restore an older node backup.
func TestPlanPrunedBelowLastIngestedWaitsForCatchUp(t *testing.T) {
	ctx := context.Background()
	steps := script(80, 40, 41, 42, 43)
	want := reference(t, steps)

	b := newBundle(t)
	play(t, b.p, steps[:41]) // up to tx-00041
	ingestTo(t, b, offsetOf(t, b.p, "tx-00041"))
	require.NoError(t, b.p.Prune(offsetOf(t, b.p, "tx-00040"))) // below the checkpoint
	backup := b.p.Backup()
	play(t, b.p, steps[41:])
	ingestTo(t, b, offsetOf(t, b.p, "tx-00042")) // the last ingested: tx-00042, at tRecovery
	b.p.Restore(backup, ledgertest.WithCatchUp(true))

	o := options(recovery.ModeNonUnique)
	o.Timeout = 10 * time.Second
	var once sync.Once
	o.Progress = func(recovery.Progress) { once.Do(func() { go b.p.CatchUp(-1) }) }
	rw, err := recovery.Plan(ctx, b.db, b.client, o)
	require.NoError(t, err, "the participant had not caught up yet; nothing the runbook needs is pruned")
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	require.NoError(t, ingestErr(t, b))
	require.Equal(t, want, readHistory(t, b.db))
}

// The setting of TestNonUniqueOffRecoveryBelowPruningOffset: offRecovery is
// raised from the −1µs look-up's answer to the participant's pruning
// offset. The audit row of checkpoint_rewind, "a note with the evidence",
// must say so: it said "offRecovery as of tRecovery − 1µs" next to an offset
// that is not that look-up's answer, and nothing of the pruning.
func TestAuditNoteNamesThePruningOffset(t *testing.T) {
	ctx := context.Background()
	steps := script(80, 40, 41, 42, 43)
	b := newBundle(t)
	play(t, b.p, steps[:39])
	ingestTo(t, b, b.p.LedgerEnd())
	pruneAt := offsetOf(t, b.p, "tx-00039")
	require.NoError(t, b.p.Prune(pruneAt))
	backup := b.p.Backup()
	play(t, b.p, steps[39:])
	ingestTo(t, b, offsetOf(t, b.p, "tx-00040"))
	b.p.Restore(backup)

	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.Equal(t, pruneAt, rw.PrunedUpTo)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	recs := rewinds(t, b)
	require.Len(t, recs, 1)
	require.Contains(t, recs[0].Note, fmt.Sprintf("pruned up to offset %d", pruneAt), "audit note: %s", recs[0].Note)
}

// The setting of TestAuditNoteNamesThePruningOffset, through the command's
// narration (examples/runbook prints nothing else): offRecovery is not the
// look-up's answer printed just above it, and the operator must be told
// why, as Rewind.String and the audit note do.
func TestRunbookNarratesThePruningOffset(t *testing.T) {
	ctx := context.Background()
	steps := script(80, 40, 41, 42, 43)
	b := newBundle(t)
	play(t, b.p, steps[:39])
	ingestTo(t, b, b.p.LedgerEnd())
	pruneAt := offsetOf(t, b.p, "tx-00039")
	require.NoError(t, b.p.Prune(pruneAt))
	backup := b.p.Backup()
	play(t, b.p, steps[39:])
	ingestTo(t, b, offsetOf(t, b.p, "tx-00040"))
	b.p.Restore(backup)

	var out bytes.Buffer
	rw, err := (&recovery.Runbook{DB: b.db, Participant: b.client, Options: options(recovery.ModeNonUnique), Out: &out}).Run(ctx)
	require.NoError(t, err, out.String())
	require.Equal(t, pruneAt, rw.PrunedUpTo)
	require.Contains(t, out.String(), fmt.Sprintf("pruned up to offset %d", pruneAt), "narration:\n%s", out.String())
}
