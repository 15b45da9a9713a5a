package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// A participant pruned up to offset 2 (below the last ingested
// transaction), restored, reports a synchronizer the Integration DB never
// saw: offRecovery goes to 0, then up to the pruning offset. The rewind's
// description and the audit row must say the pruning offset is above that
// 0, not "above the look-up's answer" (1005 here, far above it).
func TestPrunedRaiseAfterAnUnseenSynchronizerIsNarratedAsSuch(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer), txOn(2, ledgertest.DefaultSynchronizer), txOn(3, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())
	require.NoError(t, b.p.Prune(2))
	backup := b.p.Backup()
	_, err = b.p.Append(txOn(4, ledgertest.DefaultSynchronizer), txOn(5, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())
	_, err = b.p.Append(txOn(6, thirdSynchronizer))
	require.NoError(t, err)
	b.p.Restore(backup, ledgertest.WithSynchronizersFirst(thirdSynchronizer))

	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.Len(t, rw.UnknownSynchronizers, 1, "%s", rw)
	require.Equal(t, int64(2), rw.PrunedUpTo, "%s", rw)
	require.NotContains(t, rw.String(), "above the look-up's answer")
	require.Contains(t, rw.String(), "the participant is pruned up to offset 2, above 0")
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	var note string
	require.NoError(t, b.db.Get(&note, `SELECT note FROM txhistory.checkpoint_rewind ORDER BY rewound_at DESC LIMIT 1`))
	require.NotContains(t, note, "above the look-up's answer")
	require.Contains(t, note, "the participant is pruned up to offset 2, above 0")
}
