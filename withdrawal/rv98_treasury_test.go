package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The History handler must keep the history of the store's Treasury, when
// the store has one: Create refuses holdings of another owner, and the
// holding set the History fills holds only its own treasury's, so every
// Create fails, while the History books another party's transfers than the
// withdrawals'. ingest.New takes the pair when Parties hold both parties
// (each handler's treasury is among them); NewReconciler refuses it,
// naming both. A store without a Treasury takes any History.
func TestRV98NewReconcilerRefusesAHistoryOfAnotherTreasury(t *testing.T) {
	db := pgtest.NewDB(t)
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	other, err := tokenstd.NewHistory(tokenstd.Config{Treasury: "someone-else::1220ff", Logger: quietLog})
	require.NoError(t, err)
	_, err = withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: other})
	require.ErrorContains(t, err, `the History keeps the history of "someone-else::1220ff", the store's Treasury is "`+treasury+`"`)

	same, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	_, err = withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: same})
	require.NoError(t, err)

	anyStore, err := withdrawal.NewStore(db, withdrawal.Config{Logger: quietLog})
	require.NoError(t, err)
	_, err = withdrawal.NewReconciler(anyStore, withdrawal.ReconcilerConfig{History: other})
	require.NoError(t, err)
}
