package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The setting of TestSeveralSynchronizersReplayWithoutDuplicate, with the
// ingesting process stopped in the middle of the replay after the rewind
// (a deploy, a crash, a bounded catch-up): after tx-00053 and before the
// last transaction ingested before the restore, tx-00057. The other
// synchronizer's tx-00054, already ingested, comes next with a record
// time behind that synchronizer's. A new process must resume the replay,
// and so must one started after the runbook was run again: both end with
// the history of a run without the restore.
func TestRestartInTheMiddleOfTheReplay(t *testing.T) {
	history := twoSynchronizerHistory
	ref := newBundle(t)
	_, err := ref.p.Append(history()...)
	require.NoError(t, err)
	ingestTo(t, ref, ref.p.LedgerEnd())
	want := readHistory(t, ref.db)

	for _, runbookAgain := range []bool{false, true} {
		name := "restarted"
		if runbookAgain {
			name = "runbook run again, then restarted"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := newBundle(t)
			txs := history()
			_, err := b.p.Append(txs[:20]...)
			require.NoError(t, err)
			backup := b.p.Backup()
			_, err = b.p.Append(txs[20:]...)
			require.NoError(t, err)
			ingestTo(t, b, offsetOf(t, b.p, "tx-00057"))
			b.p.Restore(backup)

			rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
			require.NoError(t, err)
			require.NoError(t, recovery.Apply(ctx, b.db, rw))
			ingestTo(t, b, offsetOf(t, b.p, "tx-00053"))
			cp := readState(t, b.db).Checkpoint
			require.Equal(t, "tx-00057", cp.UpdateID, "in the replay the checkpoint names the last transaction ingested before it")
			require.Zero(t, cp.UpdateOffset)

			if runbookAgain {
				again, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
				require.NoError(t, err)
				require.Equal(t, rw.To, again.To, "the runbook run again plans the same rewind")
				require.NoError(t, recovery.Apply(ctx, b.db, again))
			}
			require.NoError(t, ingestErr(t, b))
			require.Equal(t, want, readHistory(t, b.db))
			cp = readState(t, b.db).Checkpoint
			require.NotZero(t, cp.UpdateOffset, "the replay ended")
		})
	}
}
