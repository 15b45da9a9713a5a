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

// The treasury began using a second synchronizer after the node backup:
// its first transaction there, a1, is the one ingested there. The
// participant has nothing of that synchronizer before a1's record time tS,
// so the look-up as of tS − 1µs finds nothing and Plan took offRecovery 0:
// a replay of the whole ledger. The dedup table, pruned as PruneBefore
// says (before the oldest of the checkpoint's record times), no longer
// holds the first transactions, which come again behind the ingested
// record time: ingestion stops with ErrParticipantRestored, and running
// the runbook again plans the same. Everything of that synchronizer up to
// a1 was ingested; resuming below a1 suffices.
func TestRecoveryAnotherSynchronizersFirstTransactionDoesNotRewindToZero(t *testing.T) {
	for _, admin := range behaviours {
		t.Run(admin.String(), func(t *testing.T) {
			ctx := context.Background()
			b := newBundle(t, ledgertest.WithAdminBehaviour(admin))
			a1 := restoreOtherFirstSinceItsFirst(t, b)
			require.Less(t, offsetOf(t, b.p, "tx-00005"), offsetOf(t, b.p, "tx-00004"), "the restored participant did not reorder the synchronizers")

			dd, err := dedup.NewStore(schema.DefaultName)
			require.NoError(t, err)
			_, err = dd.PruneBefore(ctx, b.db, a1.RecordTime)
			require.NoError(t, err)

			rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
			require.NoError(t, err)
			require.NotZero(t, rw.To, "offRecovery 0: the whole ledger is replayed (%s)", rw)
			require.NoError(t, recovery.Apply(ctx, b.db, rw))
			require.NoError(t, ingestErr(t, b), "ingestion after the runbook (%s)", rw)

			h := readHistory(t, b.db)
			require.Empty(t, h.Duplicates)
			require.ElementsMatch(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00004", "tx-00005"}, updateIDs(h.Rows))
		})
	}
}
