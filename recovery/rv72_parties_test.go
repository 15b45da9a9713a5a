package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// Plan run with Options.Parties other than those the Integration DB
// recorded (a mistyped treasury party in the runbook's options) looks the
// last ingested transaction up with a filter that cannot see it: the
// participant seems never to recover it, and the operator waits the whole
// Options.Timeout for an error that does not name the cause. The recorded
// parties tell at once.
func TestPlanRefusesPartiesOtherThanRecorded(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	restoredAfter(t, b, script(60), 30, "tx-00050")
	require.Equal(t, []string{treasury}, readState(t, b.db).Checkpoint.Parties)
	before := readState(t, b.db)

	opts := options(recovery.ModeNonUnique)
	opts.Parties = []string{"treasury-typo::1220beef"}
	opts.Timeout = 5 * time.Second
	start := time.Now()
	_, err := recovery.Plan(ctx, b.db, b.client, opts)
	took := time.Since(start)
	require.Error(t, err)
	require.Less(t, took, 2*time.Second, "Plan waited %s (Options.Timeout) before failing: %v", took.Round(time.Millisecond), err)
	require.ErrorContains(t, err, treasury, "the error names the recorded parties")
	require.ErrorContains(t, err, "treasury-typo::1220beef")
	require.Equal(t, before, readState(t, b.db))
}
