package recovery_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// Plan's look-up of where the participant now has the transaction ingested
// on another synchronizer at its ingested record time (lastIngestedAt, when
// nothing of that synchronizer lies before it) reads it with
// GetUpdateById. One transient failure there (UNAVAILABLE: a restarting
// or busy node), after a wait for tRecovery that may have lasted
// Options.Timeout, must be retried as every other call of step 5 is, not
// fail the runbook.
func TestPlanOutlastsATransientFailureOfTheOtherSynchronizersUpdateLookup(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	a1 := restoreOtherFirstSinceItsFirst(t, b)

	var failed atomic.Int32
	b.p.Intercept(ledgertest.MethodGetUpdateByID, func(_ context.Context, req proto.Message) error {
		if r, ok := req.(interface{ GetUpdateId() string }); ok && r.GetUpdateId() == a1.UpdateID && failed.Add(1) == 1 {
			return ledgertest.StatusError(codes.Unavailable, "", "the node is restarting", nil)
		}
		return nil
	})
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err, "one UNAVAILABLE of the look-up of %s failed the runbook", a1.UpdateID)
	require.NotZero(t, rw.To, "offRecovery 0: the whole ledger is replayed (%s)", rw)
	require.Less(t, rw.To, offsetOf(t, b.p, "tx-00005"), "the deposit is skipped (%s)", rw)
	require.GreaterOrEqual(t, failed.Load(), int32(2), "the failure was not retried")
}
