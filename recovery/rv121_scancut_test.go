package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The read of the treasury's transactions for a synchronizer the
// Integration DB never saw goes over the whole history below offRecovery.
// A connection that breaks every few items (a proxy's stream limit, a
// flaky link) must not make it start again from its beginning each time,
// never getting further than the first break: it resumes after what it has
// read, as the Ingester does, and Plan keeps offRecovery.
func TestUnseenSynchronizerScanResumesAfterAStreamBreak(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	backupAt := 2
	var txs []step
	for i := 1; i <= 40; i++ {
		txs = append(txs, step{n: i})
	}
	play(t, b.p, txs[:backupAt])
	backup := b.p.Backup()
	play(t, b.p, txs[backupAt:])
	ingestTo(t, b, b.p.LedgerEnd())
	_, err := b.p.Append(txOn(41, thirdSynchronizer)) // a deposit, after ingestion stopped
	require.NoError(t, err)
	b.p.Restore(backup)
	b.p.DropStreamsAfter(10)

	opts := options(recovery.ModeNonUnique)
	opts.Timeout = 3 * time.Second
	rw, err := recovery.Plan(ctx, b.db, b.client, opts)
	require.NoError(t, err)
	require.Len(t, rw.UnknownSynchronizers, 1, "%s", rw)
	require.NotNil(t, rw.UnknownScan, "%s", rw)
	require.Zero(t, rw.UnknownScan.First, "%s", rw)
	require.Equal(t, offsetOf(t, b.p, "tx-00040")-1, rw.To, "%s", rw)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	b.p.DropStreamsAfter(0)
	ingestTo(t, b, b.p.LedgerEnd())
	h := readHistory(t, b.db)
	require.Empty(t, h.Duplicates)
	require.Len(t, h.Rows, 41)
}
