package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The read for a synchronizer the Integration DB never saw goes over the
// treasury's whole history below offRecovery (from the pruning offset),
// within Options.Timeout. A history too long to read in it fails Plan; the
// error must say that the read did not finish within Options.Timeout, that
// nothing was written and what to do (run again with a longer -timeout),
// not only the stream's cut.
func TestUnseenSynchronizerScanPastTheTimeoutSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	var txs []step
	for i := 1; i <= 400; i++ {
		txs = append(txs, step{n: i})
	}
	play(t, b.p, txs[:2])
	backup := b.p.Backup()
	play(t, b.p, txs[2:])
	ingestTo(t, b, b.p.LedgerEnd())
	_, err := b.p.Append(txOn(401, thirdSynchronizer)) // a deposit, after ingestion stopped
	require.NoError(t, err)
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
