package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// Plan reads the synchronizers the participant reports from the first
// OffsetCheckpoint on a stream at its ledger end, which Canton sends about
// a minute after the ledger goes quiet. With none before Options.Timeout
// (a stalled stream here; a quiet ledger and a timeout under a minute in
// production) Plan gives up, bounded by the timeout, and its error must
// say what happened and what to do, not only the stream's cut
// ("DeadlineExceeded: stream terminated by RST_STREAM").
func TestPlanNamesTheTimeoutWhenNoOffsetCheckpointArrives(t *testing.T) {
	b := newBundle(t)
	_, err := b.p.Append(txOn(1, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	backup := b.p.Backup()
	_, err = b.p.Append(txOn(2, ledgertest.DefaultSynchronizer))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())
	b.p.Restore(backup)
	b.p.StallStreams(true)

	o := options(recovery.ModeNonUnique)
	o.Timeout = time.Second
	start := time.Now()
	_, err = recovery.Plan(context.Background(), b.db, b.client, o)
	require.Error(t, err)
	require.Less(t, time.Since(start), 20*time.Second, "not bounded by Options.Timeout")
	require.ErrorContains(t, err, "no OffsetCheckpoint")
	require.ErrorContains(t, err, "Options.Timeout (1s)")
	require.ErrorContains(t, err, "-timeout")
}
