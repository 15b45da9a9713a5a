package recovery_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// A refusal of Plan, Packages or Runbook.Run whose context is still live
// does not say that the context ended: errors.Is finds neither
// context.Canceled nor context.DeadlineExceeded. Plan and Packages bound
// their later calls with a context of their own, cancelled when they
// return; the context's end they report must be the caller's, or an
// operator's tool taking a cancelled context for ^C would hide "run again
// in non-unique mode" or the participant's refusal.
func TestRV95RefusalsWithALiveContextDoNotBlameIt(t *testing.T) {
	ctx := context.Background()
	steps := script(80, 40, 41, 42, 43) // tx 39 to 43 share a record time
	b := newBundle(t)
	_, after := restoredAfter(t, b, steps, 20, "tx-00040")

	ended := func(err error) bool {
		return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	}
	_, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeUnique))
	require.ErrorIs(t, err, recovery.ErrRecordTimeNotUnique)
	require.False(t, ended(err), "Plan's refusal, its context live, says the context ended: %v", err)

	_, err = (&recovery.Runbook{DB: b.db, Participant: b.client, Options: options(recovery.ModeUnique)}).Run(ctx)
	require.ErrorIs(t, err, recovery.ErrRecordTimeNotUnique)
	require.False(t, ended(err), "Runbook.Run's refusal, its context live, says the context ended: %v", err)

	b.p.FailNext(ledgertest.MethodGetUpdateByID, 1, codes.PermissionDenied)
	_, err = recovery.Packages(ctx, b.db, b.client, after[0].RecordTime, recovery.PackageOptions{Parties: options(recovery.ModeUnique).Parties})
	require.ErrorContains(t, err, "PermissionDenied")
	require.False(t, ended(err), "Packages' look-up refused, its context live, says the context ended: %v", err)
}
