package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// Options.Timeout "bounds the wait for the participant to process
// tRecovery", and the package promises that Plan waits "bounded by
// Options.Timeout". A restored participant whose admin API accepts the
// call but never answers it (still starting, overloaded by the catch-up, a
// connection silently dropped) must not keep Plan, and the runbook command
// waiting on it, beyond that bound: it ends with ErrNotCaughtUp.
func TestPlanTimeoutBoundsAHangingParticipant(t *testing.T) {
	b := newBundle(t)
	restoredAfter(t, b, script(30), 10, "tx-00025")
	b.p.Intercept(ledgertest.MethodGetHighestOffsetByTimestamp, func(ctx context.Context, _ proto.Message) error {
		<-ctx.Done()
		return ctx.Err()
	})

	o := options(recovery.ModeNonUnique)
	o.Timeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := recovery.Plan(ctx, b.db, b.client, o)
	took := time.Since(start)
	require.Error(t, err)
	require.Less(t, took, 10*time.Second, "Plan returned after %s (Options.Timeout %s): %v", took, o.Timeout, err)
	require.ErrorIs(t, err, recovery.ErrNotCaughtUp)
}
