package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// A second synchronizer the Integration DB knows from OffsetCheckpoints
// alone (someone else's transaction there, none of the treasury's), and the
// dedup table pruned within the documented retention. After the node
// restore the treasury's first transaction there, a deposit made after
// ingestion stopped, comes after offRecovery. Plan's look-up of that
// synchronizer as of its ingested record time − 1µs finds nothing, and no
// dedup row tells where its transactions lie: it must not replay the whole
// ledger for it (which meets the pruned ids and stops ingestion for good)
// when none of the treasury's transactions there lies at or below
// offRecovery.
func TestCheckpointOnlySynchronizerDoesNotReplayTheWholeLedger(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer), txOn(2, ledgertest.DefaultSynchronizer), txOn(3, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	someone := step{n: 4, other: true}.tx(time.Time{})
	someone.SynchronizerID = otherSynchronizer
	_, err = b.p.Append(someone)
	require.NoError(t, err)
	tailUntilKnown(t, b, otherSynchronizer)
	backup := b.p.Backup()
	_, err = b.p.Append(txOn(5, ledgertest.DefaultSynchronizer), txOn(6, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())
	dd, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	n, err := dd.PruneBefore(ctx, b.db, txOn(3, ledgertest.DefaultSynchronizer).RecordTime)
	require.NoError(t, err)
	require.Positive(t, n, "nothing pruned: the test does not show what it means to")
	_, err = b.p.Append(txOn(7, otherSynchronizer)) // a deposit, after ingestion stopped
	require.NoError(t, err)
	b.p.Restore(backup)

	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.Len(t, rw.OtherSynchronizers, 1, "%s", rw)
	require.NotZero(t, rw.To, "offRecovery 0: the whole ledger is replayed (%s)", rw)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	ingestTo(t, b, b.p.LedgerEnd())
	h := readHistory(t, b.db)
	require.Empty(t, h.Duplicates)
	require.Equal(t, []string{"tx-00001", "tx-00002", "tx-00003", "tx-00005", "tx-00006", "tx-00007"}, updateIDs(h.Rows))
}

// tailUntilKnown runs a tailing Ingester until the checkpoint holds a
// record time of sync (from an OffsetCheckpoint), then stops it.
func tailUntilKnown(t *testing.T, b *bundle, sync string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ing := newIngester(t, b, ingest.Config{})
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	cps, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cp, _, err := cps.Get(ctx, b.db)
		_, known := cp.RecordTimes[sync]
		return err == nil && known
	}, 20*time.Second, 10*time.Millisecond, "the Ingester never recorded synchronizer %s", sync)
	ing.Stop()
	require.NoError(t, <-done)
}
