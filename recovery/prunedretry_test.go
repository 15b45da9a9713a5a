package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// Plan retries the participant's transient failures (UNAVAILABLE, a
// restarting or busy node) in every look-up of step 5, until
// Options.Timeout: the look-ups of tRecovery and of the last ingested
// update while it waits, and the −1µs look-up after it. The read of the
// pruning offset that follows the −1µs look-up must not be the exception:
// one UNAVAILABLE there, after a wait that may have lasted an hour, failed
// the whole runbook.
func TestPlanOutlastsATransientFailureOfThePrunedOffsetsRead(t *testing.T) {
	ctx := context.Background()
	steps := script(60, 40, 41, 42)
	want := reference(t, steps)
	b := newBundle(t)
	restoredAfter(t, b, steps, 20, "tx-00041")
	b.p.FailNext(ledgertest.MethodGetLatestPrunedOffsets, 1, codes.Unavailable)

	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.Equal(t, offsetOf(t, b.p, "tx-00038"), rw.To, "offRecovery: the last transaction before tRecovery")
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	ingestTo(t, b, b.p.LedgerEnd())
	require.Equal(t, want, readHistory(t, b.db))
}
