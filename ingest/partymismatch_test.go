package ingest_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// An Ingester whose Parties do not hold the treasury its handlers keep the
// history of (tokenstd.Config.Treasury, withdrawal.Config.Treasury) is
// refused by New, naming the party: the participant would send none of the
// treasury's transactions, and the checkpoint would move past them, so
// that correcting Parties later meets ErrPartiesChanged. Inside Handlers
// too; with the treasury among Parties, as before.
func TestNewRefusesPartiesWithoutTheHandlersTreasury(t *testing.T) {
	b, handlers := treasuryHandlers(t)
	for name, h := range handlers {
		_, err := ingest.New(b.db, b.client, ingest.Config{Parties: []string{"someone-else::1220ff"}, Handler: h, Logger: quietLog})
		require.Error(t, err, name)
		require.ErrorContains(t, err, treasury, name)

		_, err = ingest.New(b.db, b.client, ingest.Config{Parties: []string{"someone-else::1220ff", treasury}, Handler: h, Logger: quietLog})
		require.NoError(t, err, name)
	}
}

// A withdrawal store without a Treasury (optional) names no party: its
// Reconciler is taken with any Parties.
func TestNewTakesAReconcilerWithoutTreasury(t *testing.T) {
	b := setup(t)
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	store, err := withdrawal.NewStore(b.db, withdrawal.Config{Logger: quietLog})
	require.NoError(t, err)
	recon, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history})
	require.NoError(t, err)
	_, err = ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Handler: ingest.Handlers(history, recon), Logger: quietLog})
	require.NoError(t, err)
}
