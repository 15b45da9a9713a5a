package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// A prune within PruneBefore's rule (before the node backup and the oldest
// of the checkpoint's record times, as they are when it runs), then the
// treasury's first transaction on a second synchronizer is ingested and
// becomes the checkpoint. After a node restore, the runbook's look-up on that
// synchronizer as of tRecovery − 1µs finds nothing (rv113's model, seed
// 2093), offRecovery is 0, and the replay of the whole ledger meets the
// pruned id again: ingestion stops with ErrParticipantRestored for good.
func TestRV113PruneBeforeANewSynchronizersFirstTransaction(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	_, err := b.p.Append(txAt(1, ledgertest.DefaultSynchronizer, 1), txAt(2, ledgertest.DefaultSynchronizer, 2))
	require.NoError(t, err)
	backup := b.p.Backup()
	_, err = b.p.Append(txAt(3, ledgertest.DefaultSynchronizer, 3))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())

	// The daily retention job, within the rule: before the backup's record
	// time and the checkpoint's (2ms < 3ms).
	cut := ledgertest.DefaultStartTime.Add(2 * time.Millisecond)
	dd, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	n, err := dd.PruneBefore(ctx, b.db, cut)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "tx-00001 is pruned")

	_, err = b.p.Append(txAt(4, otherSynchronizer, 5))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())

	b.p.Restore(backup)
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	require.NoError(t, ingestErr(t, b), "%s", rw)
	h := readHistory(t, b.db)
	require.Empty(t, h.Duplicates)
	require.ElementsMatch(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00004"}, updateIDs(h.Rows))
}
