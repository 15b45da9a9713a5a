package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// As TestRecoveryDoesNotSkipAnotherSynchronizersTransaction, but the
// deposit made on the other synchronizer while ingestion was stopped, a2,
// shares the record time of a1, the last transaction ingested there (record
// times are not unique: the default mode's premise), and the participant
// has processed nothing of that synchronizer after it. It numbered a2 below
// offRecovery all the same: the look-up of the other synchronizer must not
// be skipped because nothing was processed after a1's record time.
func TestRecoveryDoesNotSkipAnotherSynchronizersTransactionAtItsRecordTime(t *testing.T) {
	for _, admin := range behaviours {
		t.Run(admin.String(), func(t *testing.T) {
			ctx := context.Background()
			b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
			_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer), txOn(2, otherSynchronizer))
			require.NoError(t, err)
			backup := b.p.Backup()
			a1 := txOn(4, otherSynchronizer)
			_, err = b.p.Append(txOn(3, ledgertest.DefaultSynchronizer), a1, txOn(5, ledgertest.DefaultSynchronizer))
			require.NoError(t, err)
			ingestTo(t, b, b.p.LedgerEnd())
			a2 := txOn(6, otherSynchronizer)
			a2.RecordTime = a1.RecordTime
			_, err = b.p.Append(a2)
			require.NoError(t, err)

			b.p.Restore(backup, ledgertest.WithSynchronizersFirst(otherSynchronizer))
			require.Less(t, offsetOf(t, b.p, "tx-00006"), offsetOf(t, b.p, "tx-00003"), "the restored participant did not reorder the synchronizers")
			require.True(t, b.p.ProcessedRecordTime(otherSynchronizer).Equal(a1.RecordTime))

			rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
			require.NoError(t, err)
			require.NoError(t, recovery.Apply(ctx, b.db, rw))
			ingestTo(t, b, b.p.LedgerEnd())

			h := readHistory(t, b.db)
			require.Empty(t, h.Duplicates)
			require.ElementsMatch(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00004", "tx-00005", "tx-00006"}, updateIDs(h.Rows),
				"a transaction of the other synchronizer was skipped: offRecovery %d (%s)", rw.To, rw)
		})
	}
}
