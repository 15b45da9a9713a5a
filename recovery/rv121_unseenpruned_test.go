package recovery_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The setting of TestAuditNoteNamesThePruningOffset, with a deposit on a
// synchronizer the Integration DB never saw after ingestion stopped: the
// participant is pruned above the look-up's answer, so Plan reads nothing
// for that synchronizer (its transactions all lie above the pruning
// offset). The rewind's description and audit row must not claim a read
// of an empty range ("at offsets N+1 to N"), but say why nothing was read.
func TestUnseenSynchronizerOnAParticipantPrunedAboveOffRecoveryIsNarrated(t *testing.T) {
	ctx := context.Background()
	steps := script(80, 40, 41, 42, 43)
	b := newBundle(t)
	play(t, b.p, steps[:39])
	ingestTo(t, b, b.p.LedgerEnd())
	pruneAt := offsetOf(t, b.p, "tx-00039")
	require.NoError(t, b.p.Prune(pruneAt))
	backup := b.p.Backup()
	play(t, b.p, steps[39:41])
	ingestTo(t, b, offsetOf(t, b.p, "tx-00040"))
	_, err := b.p.Append(txOn(90, thirdSynchronizer)) // a deposit, after ingestion stopped
	require.NoError(t, err)
	b.p.Restore(backup)

	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.Len(t, rw.UnknownSynchronizers, 1, "%s", rw)
	require.NotNil(t, rw.UnknownScan, "%s", rw)
	require.Equal(t, pruneAt, rw.PrunedUpTo, "%s", rw)
	sc := rw.UnknownScan
	empty := fmt.Sprintf("at offsets %d to %d", sc.From+1, sc.To)
	require.GreaterOrEqual(t, sc.From, sc.To, "%s", rw)
	require.NotContains(t, rw.String(), empty)
	require.Contains(t, rw.String(), fmt.Sprintf("pruned up to offset %d", pruneAt))
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	var note string
	require.NoError(t, b.db.Get(&note, `SELECT note FROM txhistory.checkpoint_rewind ORDER BY rewound_at DESC LIMIT 1`))
	require.NotContains(t, note, empty)
}
