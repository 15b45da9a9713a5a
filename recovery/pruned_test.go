package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The node is restored from a backup taken after the last ingested
// transaction, and the participant had pruned below the checkpoint (as
// docs/OPERATIONS.md allows: "pruning only below the checkpoint"), past the
// last ingested transaction. The participant has processed tRecovery long
// ago; it cannot serve the last ingested transaction by update id because
// it pruned it, and cannot replay from tRecovery. The runbook must say so
// at once (ledger.ErrPruned, naming the update), not wait for
// Options.Timeout (one hour by default) and then report that the
// participant has not processed tRecovery.
func TestPlanWithPrunedLastTransaction(t *testing.T) {
	ctx := context.Background()
	steps := script(40)

	b := newBundle(t)
	play(t, b.p, steps[:30])
	last := b.p.Transactions()[29]
	b.p.AdvanceTime("", last.RecordTime.Add(time.Millisecond)) // the checkpoint goes past the last transaction
	ingestTo(t, b, b.p.LedgerEnd())
	cp := readState(t, b.db).Checkpoint
	require.Equal(t, last.UpdateID, cp.UpdateID)
	require.Greater(t, cp.Offset, last.Offset)
	require.NoError(t, b.p.Prune(last.Offset)) // below the checkpoint
	backup := b.p.Backup()                     // after the last ingested transaction
	play(t, b.p, steps[30:])
	b.p.Restore(backup)

	o := options(recovery.ModeNonUnique)
	o.Timeout = 3 * time.Second
	_, err := recovery.Plan(ctx, b.db, b.client, o)
	require.Error(t, err)
	require.NotErrorIs(t, err, recovery.ErrNotCaughtUp, "the participant processed tRecovery; it pruned the last ingested transaction")
	require.ErrorIs(t, err, ledger.ErrPruned)
	require.ErrorContains(t, err, last.UpdateID)
}
