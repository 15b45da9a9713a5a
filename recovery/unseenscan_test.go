package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// The treasury's first transaction on a new synchronizer came after the
// last ingested one, and the restored participant numbers it after it
// too; the dedup table was pruned within the documented retention (before
// the node backup). Plan reads the treasury's transactions up to
// offRecovery, finds none on the synchronizer the Integration DB never
// saw, and keeps offRecovery: no replay of the whole ledger, which would
// meet the pruned ids and stop ingestion for good.
func TestUnseenSynchronizerAboveOffRecoveryKeepsIt(t *testing.T) {
	for _, mode := range []recovery.Mode{recovery.ModeNonUnique, recovery.ModeUnique} {
		t.Run(string(mode), func(t *testing.T) {
			ctx := context.Background()
			b := newBundle(t)
			_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer), txOn(2, ledgertest.DefaultSynchronizer), txOn(3, ledgertest.DefaultSynchronizer))
			require.NoError(t, err)
			ingestTo(t, b, b.p.LedgerEnd())
			backup := b.p.Backup()
			_, err = b.p.Append(txOn(4, ledgertest.DefaultSynchronizer), txOn(5, ledgertest.DefaultSynchronizer))
			require.NoError(t, err)
			ingestTo(t, b, b.p.LedgerEnd())
			dd, err := dedup.NewStore(schema.DefaultName)
			require.NoError(t, err)
			n, err := dd.PruneBefore(ctx, b.db, txOn(3, ledgertest.DefaultSynchronizer).RecordTime)
			require.NoError(t, err)
			require.Positive(t, n, "nothing pruned: the test does not show what it means to")
			_, err = b.p.Append(txOn(6, thirdSynchronizer)) // a deposit, after ingestion stopped
			require.NoError(t, err)
			b.p.Restore(backup)

			rw, err := recovery.Plan(ctx, b.db, b.client, options(mode))
			require.NoError(t, err)
			require.Len(t, rw.UnknownSynchronizers, 1, "%s", rw)
			require.NotNil(t, rw.UnknownScan, "%s", rw)
			require.Zero(t, rw.UnknownScan.First, "%s", rw)
			require.Contains(t, rw.String(), "offRecovery kept")
			require.NoError(t, recovery.Apply(ctx, b.db, rw))
			ingestTo(t, b, b.p.LedgerEnd())
			h := readHistory(t, b.db)
			require.Empty(t, h.Duplicates)
			require.Equal(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00004", "tx-00005", "tx-00006"}, updateIDs(h.Rows))
		})
	}
}
