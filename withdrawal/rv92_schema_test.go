package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The History handler must write the store's schema: Create reserves
// holdings from the store's token_holding, which a History writing another
// schema never fills (every Create then fails, holdings "cannot be
// reserved"), or leaves stale (holdings spent since still look live). An
// exchange that sets Schema in one Config and forgets the other learnt of
// it only from those Creates; NewReconciler refuses the pair, naming both.
func TestRV92NewReconcilerRefusesAHistoryOfAnotherSchema(t *testing.T) {
	db := pgtest.NewDB(t)
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Schema: "exch", Logger: quietLog})
	require.NoError(t, err)
	other, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog}) // Schema forgotten
	require.NoError(t, err)
	_, err = withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: other})
	require.ErrorContains(t, err, `the History writes schema "txhistory", the store's is "exch"`)

	same, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Schema: "exch", Logger: quietLog})
	require.NoError(t, err)
	_, err = withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: same})
	require.NoError(t, err)
}
