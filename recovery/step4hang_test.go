package recovery_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// Step 4 looks the transactions ingested since the backup up by update id
// on the restored participant. One that accepts those calls and never
// answers them (still starting, overloaded by the catch-up, a connection
// silently dropped) must not hold the runbook command forever, as it no
// longer holds step 5 (TestPlanTimeoutBoundsAHangingParticipant): the
// runbook's bound, Options.Timeout, ends step 4 as well, with an error
// naming the step, and nothing written.
func TestRunbookStep4BoundedByTimeout(t *testing.T) {
	b := newBundle(t)
	_, after := restoredAfter(t, b, script(30), 10, "tx-00025")
	before := readState(t, b.db)
	b.p.Intercept(ledgertest.MethodGetUpdateByID, func(ctx context.Context, _ proto.Message) error {
		<-ctx.Done()
		return ctx.Err()
	})

	o := options(recovery.ModeNonUnique)
	o.Timeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	rb := &recovery.Runbook{DB: b.db, Participant: b.client, Options: o, PackagesSince: after[0].RecordTime, Apply: true, Out: &out}
	start := time.Now()
	_, err := rb.Run(ctx)
	took := time.Since(start)
	require.Error(t, err)
	require.Less(t, took, 10*time.Second, "step 4 returned after %s (Options.Timeout %s): %v\n%s", took, o.Timeout, err, out.String())
	require.NoError(t, ctx.Err(), "the runbook ended by the caller's deadline, not its own: %v", err)
	require.ErrorContains(t, err, "step 4")
	require.Contains(t, out.String(), "FAILED")
	require.NotContains(t, out.String(), "Step 5.")
	require.Equal(t, before, readState(t, b.db), "nothing written")
}
