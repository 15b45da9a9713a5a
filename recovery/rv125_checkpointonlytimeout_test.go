package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The read for a synchronizer the Integration DB knows from
// OffsetCheckpoints alone (bd80c08) goes over the treasury's history below
// offRecovery from the pruning offset, within Options.Timeout, as the one
// for synchronizers it never saw does. A history too long to read in it
// fails Plan; the error must say, as that one's does
// (TestUnseenSynchronizerScanPastTheTimeoutSaysWhatToDo), that the read did
// not finish within Options.Timeout, that nothing was written and to run
// again with a longer -timeout, not only the stream's cut.
func TestCheckpointOnlySynchronizerScanPastTheTimeoutSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	var txs []*ledger.Transaction
	for i := 1; i <= 400; i++ {
		txs = append(txs, txOn(i, ledgertest.DefaultSynchronizer))
	}
	_, err := b.p.Append(txs...)
	require.NoError(t, err)
	someone := step{n: 401, other: true}.tx(time.Time{})
	someone.SynchronizerID = otherSynchronizer
	_, err = b.p.Append(someone)
	require.NoError(t, err)
	tailUntilKnown(t, b, otherSynchronizer)
	backup := b.p.Backup()
	_, err = b.p.Append(txOn(402, ledgertest.DefaultSynchronizer), txOn(403, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())
	b.p.Restore(backup)
	b.p.SetDelay(20 * time.Millisecond) // 400 items: 8s, past Options.Timeout and its grace

	opts := options(recovery.ModeNonUnique)
	opts.Timeout = time.Second
	_, err = recovery.Plan(ctx, b.db, b.client, opts)
	require.Error(t, err)
	require.ErrorContains(t, err, "Options.Timeout")
	require.ErrorContains(t, err, "-timeout")
	require.ErrorContains(t, err, "nothing was written")
}
