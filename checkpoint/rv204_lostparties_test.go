package checkpoint_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/internal/lostcommit"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// SetParties commits, and the connection drops before the reply to its
// COMMIT: the caller cannot tell, and tries again with the same from and
// parties. The parties it asks for are the recorded ones: that is no
// conflict with another writer (ErrPartiesConflict, "they are no longer
// <from>"), and the retry succeeds, changing nothing.
func TestRV204LostReplyToSetParties(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, schema.Migrate(ctx, db))
	s, err := checkpoint.NewStore(schema.DefaultName)
	require.NoError(t, err)
	_, err = s.Init(ctx, db, 5, "a::1")
	require.NoError(t, err)

	p := lostcommit.New(t, dsn)
	lost, err := sqlx.Open("postgres", p.DSN())
	require.NoError(t, err)
	defer lost.Close()
	p.Arm("SET parties")
	require.Error(t, s.SetParties(ctx, lost, []string{"a::1"}, []string{"a::1", "b::1"}))
	require.Equal(t, 1, p.Lost(), "the reply to the COMMIT was not lost")
	got, _, err := s.Get(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{"a::1", "b::1"}, got.Parties, "it committed")

	require.NoError(t, s.SetParties(ctx, lost, []string{"a::1"}, []string{"b::1", "a::1"}), "the retry is refused as another writer's change")
	got, _, err = s.Get(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{"a::1", "b::1"}, got.Parties)
	require.Equal(t, int64(5), got.Offset)

	require.ErrorIs(t, s.SetParties(ctx, db, []string{"a::1"}, []string{"c::1"}), checkpoint.ErrPartiesConflict, "other parties recorded since from was read")
}
