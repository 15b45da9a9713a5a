package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The read for a synchronizer the Integration DB never saw, cut by
// Options.Timeout, fails Plan as the other reads after the wait do (the
// look-ups, the read of the synchronizers the participant reports): an
// error that errors.Is takes for context.DeadlineExceeded, so that a
// caller tells "run again with a longer timeout" from a fault without
// reading its words.
func TestRV126UnseenSynchronizerScanTimeoutIsADeadline(t *testing.T) {
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
	_, err := b.p.Append(txOn(401, thirdSynchronizer))
	require.NoError(t, err)
	b.p.Restore(backup)
	b.p.SetDelay(20 * time.Millisecond) // 400 items: 8s, past Options.Timeout and its grace

	opts := options(recovery.ModeNonUnique)
	opts.Timeout = time.Second
	_, err = recovery.Plan(ctx, b.db, b.client, opts)
	require.ErrorContains(t, err, "did not finish within Options.Timeout")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
