package recovery_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The runbook's step 5 is a console call an operator may repeat by hand:
// participantX.parties.find_highest_offset_by_timestamp(synchronizerId,
// tRecovery). Each look-up the plan printed named the time and force but
// not the synchronizer, the first argument of the call, though the answer
// is per synchronizer: an operator copying it had to find the id in
// step 2's lines.
func TestLookupsNameTheSynchronizer(t *testing.T) {
	steps := script(80, 40, 41, 42, 43)
	b := newBundle(t)
	restoredAfter(t, b, steps, 20, "tx-00040")

	rw, err := recovery.Plan(context.Background(), b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.NotEmpty(t, rw.SynchronizerID)
	require.NotEmpty(t, rw.Lookups)
	for _, l := range rw.Lookups {
		require.Equal(t, rw.SynchronizerID, l.SynchronizerID)
		require.True(t, strings.HasPrefix(l.String(), "find_highest_offset_by_timestamp("+rw.SynchronizerID+", "), l.String())
	}
	require.Contains(t, rw.String(), "find_highest_offset_by_timestamp("+rw.SynchronizerID+", ")
}
