package recovery_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// Step 4 looks every transaction ingested since the backup up by update id:
// for a backup days old, hundreds of thousands of calls to a participant
// that was just restored and is catching up. One UNAVAILABLE among them (a
// retryable failure, which Plan waits out in step 5) must not fail the
// whole runbook before it has reached step 5.
func TestRunbookStep4OutlastsATransientFailure(t *testing.T) {
	ctx := context.Background()
	steps := script(60)
	b := newBundle(t)
	_, after := restoredAfter(t, b, steps, 20, "tx-00050")
	b.p.FailNext(ledgertest.MethodGetUpdateByID, 1, codes.Unavailable)

	var out bytes.Buffer
	rb := &recovery.Runbook{DB: b.db, Participant: b.client, Options: options(recovery.ModeNonUnique), PackagesSince: after[0].RecordTime, Out: &out}
	_, err := rb.Run(ctx)
	require.NoError(t, err, out.String())
	require.Contains(t, out.String(), "1220a1b2c3d4e5f6 test-pkg")
}

// A participant that processed tRecovery but fails the look-up of the last
// ingested update with a transient error has not said that it does not
// know the update: the reason Plan reports (Progress, the runbook's
// narration, ErrNotCaughtUp) must be that error, not "not visible yet ...
// it may have been a participant-local operation lost with the restore",
// which sends the operator to redo ACS imports that never happened.
func TestPlanReasonForATransientUpdateLookupFailure(t *testing.T) {
	b := newBundle(t)
	restoredAfter(t, b, script(30), 10, "tx-00025")
	b.p.FailNext(ledgertest.MethodGetUpdateByID, 1_000_000, codes.Unavailable)
	o := options(recovery.ModeNonUnique)
	o.Timeout = 100 * time.Millisecond
	_, err := recovery.Plan(context.Background(), b.db, b.client, o)
	require.ErrorIs(t, err, recovery.ErrNotCaughtUp)
	require.ErrorContains(t, err, "Unavailable")
	require.NotContains(t, err.Error(), "participant-local operation")
	require.ErrorContains(t, err, "tx-00025")
}
