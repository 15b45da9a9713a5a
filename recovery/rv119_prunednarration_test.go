package recovery_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// A participant pruned up to offset 2 (below the last ingested
// transaction), restored, reports a synchronizer the Integration DB never
// saw, whose deposit it numbers below the look-up's answer. Plan reads
// the treasury's transactions from the pruning offset (it cannot stream
// from below it) and puts offRecovery just below the deposit: no raise to
// the pruning offset follows, and the rewind's description and the audit
// row say where offRecovery came from, not "above the look-up's answer".
func TestPrunedParticipantAndAnUnseenSynchronizerAreNarratedAsSuch(t *testing.T) {
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
	deposit := offsetOf(t, b.p, "tx-00006")

	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.Len(t, rw.UnknownSynchronizers, 1, "%s", rw)
	require.Equal(t, &recovery.Scan{From: 2, To: offsetOf(t, b.p, "tx-00004"), First: deposit}, rw.UnknownScan, "%s", rw)
	require.Equal(t, deposit-1, rw.To, "%s", rw)
	require.Zero(t, rw.PrunedUpTo, "%s", rw)
	want := fmt.Sprintf("offRecovery lowered to %d, just below offset %d", deposit-1, deposit)
	require.NotContains(t, rw.String(), "above the look-up's answer")
	require.Contains(t, rw.String(), want)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	var note string
	require.NoError(t, b.db.Get(&note, `SELECT note FROM txhistory.checkpoint_rewind ORDER BY rewound_at DESC LIMIT 1`))
	require.NotContains(t, note, "above the look-up's answer")
	require.Contains(t, note, want)
	ingestTo(t, b, b.p.LedgerEnd())
	h := readHistory(t, b.db)
	require.Empty(t, h.Duplicates)
	require.Equal(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00004", "tx-00005", "tx-00006"}, updateIDs(h.Rows))
}
