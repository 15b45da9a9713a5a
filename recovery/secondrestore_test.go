package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The validator node is restored, the runbook rewinds the checkpoint and
// ingestion stops in the middle of the replay (tx-00039 read again, the
// last ingested transaction tx-00041 not yet): the checkpoint names
// tx-00041 with its offset unknown. Then the node is restored again, from
// the same backup, and recovers under lower offsets than the first time;
// by the time ingestion restarts, its ledger end is past the checkpoint
// again. Restarting without the runbook must stop with
// ErrParticipantRestored, as it does outside a replay: streaming from the
// checkpoint's offset skips, in silence, every transaction the second
// restore put between tx-00039 and that offset (tx-00042 and hundreds
// after it). The runbook run again then recovers the whole history.
func TestRestoreAgainInTheMiddleOfTheReplayStops(t *testing.T) {
	ctx := context.Background()
	steps := script(600, 40, 41, 42, 43) // tx 39 to 43 share T
	want := reference(t, steps)

	b := newBundle(t)
	backup, _ := restoredAfter(t, b, steps[:80], 20, "tx-00041")
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	ingestTo(t, b, offsetOf(t, b.p, "tx-00039"))
	cp := readState(t, b.db).Checkpoint
	require.Equal(t, "tx-00041", cp.UpdateID, "in the replay")
	require.Zero(t, cp.UpdateOffset)

	// The second restore: lower offsets than the first one's.
	b.p.Restore(backup, ledgertest.WithOffsetShift(500))
	play(t, b.p, steps[80:])
	require.Greater(t, b.p.LedgerEnd(), cp.Offset, "the ledger end is past the checkpoint again")
	require.Less(t, offsetOf(t, b.p, "tx-00041"), cp.Offset, "the participant now has tx-00041 below the checkpoint")

	before := readState(t, b.db)
	err = ingestErr(t, b)
	if err == nil {
		got := updateIDs(readHistory(t, b.db).Rows)
		t.Logf("ingestion ended without an error, with %d of %d transactions (first after tx-00040: %s)", len(got), len(want.Rows), got[min(len(got)-1, 34)])
	}
	require.ErrorIs(t, err, ingest.ErrParticipantRestored, "checkpoint offset %d, the participant has tx-00041 at %d", cp.Offset, offsetOf(t, b.p, "tx-00041"))
	require.Equal(t, before, readState(t, b.db), "the refused restart wrote nothing")

	// The runbook, run again, recovers everything.
	again, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.NoError(t, recovery.Apply(ctx, b.db, again))
	ingestTo(t, b, b.p.LedgerEnd())
	require.Equal(t, want, readHistory(t, b.db))
}
