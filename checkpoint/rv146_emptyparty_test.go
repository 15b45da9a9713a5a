package checkpoint_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// An empty party id (an unset environment variable) is refused by
// ingest.Config and recovery.Options. Init and SetParties recorded it as the
// checkpoint's party, which every later ingester and recovery.Plan then
// compares its own parties with: they must refuse it and store nothing.
func TestRV146EmptyPartyIDRefused(t *testing.T) {
	ctx := context.Background()
	db, s := setup(t)
	_, err := s.Init(ctx, db, 5, "a::1", "")
	require.ErrorContains(t, err, "empty party id")
	_, found, err := s.Get(ctx, db)
	require.NoError(t, err)
	require.False(t, found, "nothing stored")

	_, err = s.Init(ctx, db, 5, "a::1")
	require.NoError(t, err)
	err = s.SetParties(ctx, db, []string{"a::1"}, []string{""})
	require.ErrorContains(t, err, "empty party id")
	cp, _, err := s.Get(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{"a::1"}, cp.Parties)
}
