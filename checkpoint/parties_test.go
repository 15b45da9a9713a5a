package checkpoint_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// Init records the parties of the first checkpoint, sorted and without
// duplicates; a later Init keeps them; SetParties replaces them; AdvanceTx
// and RewindTx leave them alone.
func TestPartiesRecordedAndKept(t *testing.T) {
	ctx := context.Background()
	db, s := setup(t)
	cp, err := s.Init(ctx, db, 5, "b::1", "a::1", "b::1")
	require.NoError(t, err)
	require.Equal(t, []string{"a::1", "b::1"}, cp.Parties)
	cp, err = s.Init(ctx, db, 5, "c::1")
	require.NoError(t, err)
	require.Equal(t, []string{"a::1", "b::1"}, cp.Parties, "Init does not overwrite the parties")

	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, advance(t, db, s, 5, checkpoint.Checkpoint{Offset: 10, UpdateID: "u10", RecordTime: t1, SynchronizerID: "s",
		RecordTimes: map[string]time.Time{"s": t1}}))
	tx := db.MustBegin()
	require.NoError(t, s.RewindTx(ctx, tx, checkpoint.Rewind{From: 10, To: 3, SynchronizerID: "s", RecoveryTime: t1, Mode: "test"}))
	require.NoError(t, tx.Commit())
	got, _, err := s.Get(ctx, db)
	require.NoError(t, err)
	require.Equal(t, int64(3), got.Offset)
	require.Equal(t, []string{"a::1", "b::1"}, got.Parties, "AdvanceTx or RewindTx changed the parties")

	require.ErrorIs(t, s.SetParties(ctx, db, nil, []string{"c::1"}), checkpoint.ErrPartiesConflict, "recorded as if none were")
	require.NoError(t, s.SetParties(ctx, db, []string{"b::1", "a::1"}, []string{"c::1", "a::1"}))
	after, _, err := s.Get(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{"a::1", "c::1"}, after.Parties)
	require.Equal(t, got.Offset, after.Offset)
	require.Equal(t, got.UpdatedAt, after.UpdatedAt, "SetParties moved UpdatedAt")
}

// A checkpoint written without parties (as before schema version 010) has
// none: Parties is nil. SetParties without a checkpoint fails.
func TestPartiesNotRecorded(t *testing.T) {
	ctx := context.Background()
	db, s := setup(t)
	require.Error(t, s.SetParties(ctx, db, nil, []string{"a::1"}))
	cp, err := s.Init(ctx, db, 0)
	require.NoError(t, err)
	require.Nil(t, cp.Parties)
	require.Equal(t, []string{"a::1"}, checkpoint.NormalizeParties([]string{"a::1", "a::1"}))
	require.Nil(t, checkpoint.NormalizeParties(nil))
}

// Get reads a schema from before version 010 (an Integration DB restored
// from an older backup, not yet migrated: the withdrawal gate reads its
// record times), with Parties nil.
func TestGetBeforeVersion10(t *testing.T) {
	ctx := context.Background()
	db, s := setup(t)
	_, err := s.Init(ctx, db, 7, "a::1")
	require.NoError(t, err)
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, advance(t, db, s, 7, checkpoint.Checkpoint{Offset: 9, RecordTimes: map[string]time.Time{"s": t1}}))
	require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema("ck"), schema.WithTargetVersion(9)))
	cp, found, err := s.Get(ctx, db)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, int64(9), cp.Offset)
	require.True(t, cp.RecordTimeOn("s").Equal(t1))
	require.Nil(t, cp.Parties)
}
