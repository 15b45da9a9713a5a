package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// The dedup table's retention keeps the ids at tRecovery, whatever it is
// asked, so that the default mode can still tell which transactions at
// tRecovery were ingested; if they are gone anyway (deleted by hand), Plan
// refuses the default mode instead of applying them twice, and the unique
// mode still recovers the same history.
func TestPlanWithoutDedupRowsAtRecoveryTime(t *testing.T) {
	ctx := context.Background()
	steps := script(60)
	want := reference(t, steps)
	b := newBundle(t)
	restoredAfter(t, b, steps, 20, "tx-00050")

	dd, err := dedup.NewStore(schema.DefaultName)
	require.NoError(t, err)
	var trec time.Time
	require.NoError(t, b.db.Get(&trec, `SELECT record_time FROM txhistory.checkpoint`))
	before, err := dd.Count(ctx, b.db)
	require.NoError(t, err)
	pruned, err := dd.PruneBefore(ctx, b.db, trec.Add(time.Hour))
	require.NoError(t, err)
	require.Positive(t, pruned)
	var atRecovery int
	require.NoError(t, b.db.Get(&atRecovery, `SELECT count(*) FROM txhistory.ingested_update WHERE record_time >= $1`, trec))
	require.Positive(t, atRecovery)
	require.Equal(t, before-pruned, int64(atRecovery), "PruneBefore deleted ids at or after tRecovery")

	_, err = b.db.Exec(`DELETE FROM txhistory.ingested_update`)
	require.NoError(t, err)
	_, err = recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.ErrorIs(t, err, recovery.ErrDedupMissing)

	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeUnique))
	require.NoError(t, err)
	require.True(t, rw.Restored(), "the checkpoint's offset of the last update is the evidence")
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	ingestTo(t, b, b.p.LedgerEnd())
	got := readHistory(t, b.db)
	require.Empty(t, got.Duplicates)
	require.Equal(t, want, got)
}

// After a restore and a default-mode rewind, the last ingested update is one
// the replay saw again at its new offset (and dedup dropped). A second Plan
// against the same participant, not restored again, must not report a
// restore from the offset the dedup table kept from before.
func TestPlanAfterReplayIsNotARestore(t *testing.T) {
	ctx := context.Background()
	steps := script(80, 40, 41, 42, 43)
	b := newBundle(t)
	restoredAfter(t, b, steps, 20, "tx-00040")
	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.True(t, rw.Restored())
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	ingestTo(t, b, offsetOf(t, b.p, "tx-00040"))

	again, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.Equal(t, rw.LastUpdateID, again.LastUpdateID)
	require.Equal(t, again.ParticipantOffset, again.IngestedOffset)
	require.False(t, again.Restored(), "the participant was not restored again")
}
