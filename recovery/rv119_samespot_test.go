package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

const thirdSynchronizer = "third-domain::1220cc"

// A treasury on two synchronizers the Integration DB knows, and a third it
// never saw. After the node backup: tx 2 on the default synchronizer, tx 3
// on the other, tx 4 on the default one (the last ingested transaction),
// then, with ingestion stopped, a deposit tx 5 on the third. The restored
// participant recovers the third synchronizer first and the other one last
// (offsets kept: WithOffsetShift(0)), so the new offsets run 5, 2, 4, 3:
// the last ingested transaction is back at the offset it was ingested at,
// Rewind.Restored is false, and yet the deposit lies below offRecovery (the
// look-up puts it at tx 2, or tx 4 in ModeUnique). Plan must not take an
// unchanged offset of the last ingested transaction for unchanged offsets
// below it.
func TestRecoveryDoesNotSkipAnUnseenSynchronizerWhenTheLastOffsetIsUnchanged(t *testing.T) {
	for _, mode := range []recovery.Mode{recovery.ModeNonUnique, recovery.ModeUnique} {
		for _, admin := range behaviours {
			t.Run(string(mode)+"/"+admin.String(), func(t *testing.T) {
				ctx := context.Background()
				b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
				_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer))
				require.NoError(t, err)
				backup := b.p.Backup()
				_, err = b.p.Append(txOn(2, ledgertest.DefaultSynchronizer), txOn(3, otherSynchronizer), txOn(4, ledgertest.DefaultSynchronizer))
				require.NoError(t, err)
				ingestTo(t, b, b.p.LedgerEnd())
				ingestedAt := offsetOf(t, b.p, "tx-00004")
				_, err = b.p.Append(txOn(5, thirdSynchronizer)) // a deposit, after ingestion stopped
				require.NoError(t, err)
				b.p.Restore(backup, ledgertest.WithOffsetShift(0), ledgertest.WithSynchronizersFirst(thirdSynchronizer, ledgertest.DefaultSynchronizer))
				require.Equal(t, ingestedAt, offsetOf(t, b.p, "tx-00004"), "the restored participant moved the last ingested transaction")
				require.Less(t, offsetOf(t, b.p, "tx-00005"), offsetOf(t, b.p, "tx-00002"), "the restored participant did not reorder the synchronizers")

				rw, err := recovery.Plan(ctx, b.db, b.client, options(mode))
				require.NoError(t, err)
				require.Len(t, rw.OtherSynchronizers, 1, "%s", rw)
				require.False(t, rw.Restored(), "the test does not show what it means to: %s", rw)
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
