package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The treasury's first transaction on a second synchronizer, a deposit,
// came after ingestion stopped: the Integration DB has never seen that
// synchronizer (no transaction, no OffsetCheckpoint). The restored
// participant recovers it first and numbers the deposit below the last
// ingested transaction. Plan cannot look the synchronizer up as of a
// record time it never ingested there, but the restored participant's
// OffsetCheckpoint names it: Plan must keep offRecovery below it (replay
// from the start, dedup dropping what was ingested) rather than skip the
// deposit without a word.
func TestRecoveryDoesNotSkipASynchronizerTheIntegrationDBNeverSaw(t *testing.T) {
	for _, mode := range []recovery.Mode{recovery.ModeNonUnique, recovery.ModeUnique} {
		for _, admin := range behaviours {
			t.Run(string(mode)+"/"+admin.String(), func(t *testing.T) {
				ctx := context.Background()
				b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
				_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer), txOn(2, ledgertest.DefaultSynchronizer))
				require.NoError(t, err)
				backup := b.p.Backup()
				_, err = b.p.Append(txOn(3, ledgertest.DefaultSynchronizer), txOn(4, ledgertest.DefaultSynchronizer))
				require.NoError(t, err)
				ingestTo(t, b, b.p.LedgerEnd())
				_, err = b.p.Append(txOn(5, otherSynchronizer)) // a deposit, after ingestion stopped
				require.NoError(t, err)
				b.p.Restore(backup, ledgertest.WithSynchronizersFirst(otherSynchronizer))
				require.Less(t, offsetOf(t, b.p, "tx-00005"), offsetOf(t, b.p, "tx-00003"), "the restored participant did not reorder the synchronizers")

				rw, err := recovery.Plan(ctx, b.db, b.client, options(mode))
				require.NoError(t, err)
				require.Empty(t, rw.OtherSynchronizers, "the Integration DB knew the second synchronizer: the test does not show what it means to")
				require.NoError(t, recovery.Apply(ctx, b.db, rw))
				ingestTo(t, b, b.p.LedgerEnd())

				h := readHistory(t, b.db)
				require.Empty(t, h.Duplicates)
				require.Equal(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00004", "tx-00005"}, updateIDs(h.Rows),
					"the deposit on the synchronizer the Integration DB never saw was skipped: offRecovery %d (%s)", rw.To, rw)
			})
		}
	}
}
