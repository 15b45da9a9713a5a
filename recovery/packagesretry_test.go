package recovery_test

import (
	"bytes"
	"context"
	"testing"

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
