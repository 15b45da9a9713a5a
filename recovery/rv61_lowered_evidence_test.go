package recovery_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// When another synchronizer's look-up lowers offRecovery, the operator's
// summary (String), the runbook's narration and Apply's audit row must say
// so: they named tRecovery − 1µs as what offRecovery is "as of", and the
// audit row kept no trace of the look-up the checkpoint was actually
// rewound to.
func TestRecoveryLoweredByAnotherSynchronizerSaysSo(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	restoreOtherFirst(t, b)

	var narration strings.Builder
	rw, err := (&recovery.Runbook{DB: b.db, Participant: b.client, Options: options(recovery.ModeNonUnique), Apply: true, Out: &narration}).Run(ctx)
	require.NoError(t, err, narration.String())
	require.Less(t, rw.To, offsetOf(t, b.p, "tx-00003"), "the other synchronizer's look-up did not lower offRecovery: %s", rw)

	store, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	recs, err := store.Rewinds(ctx, b.db)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	note := recs[len(recs)-1].Note

	lowered := fmt.Sprintf("offRecovery lowered to %d by the look-up of synchronizer %s", rw.To, otherSynchronizer)
	require.Contains(t, rw.String(), lowered, "String")
	require.Contains(t, narration.String(), lowered, "narration")
	require.Contains(t, note, lowered, "audit row")
	require.NotContains(t, rw.String(), fmt.Sprintf("offRecovery %d (as of %s)", rw.To, rw.LookupTime.Format(time.RFC3339Nano)),
		"String: offRecovery is not the answer as of tRecovery − 1µs")
}
