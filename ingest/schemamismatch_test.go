package ingest_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// An Ingester whose Schema is not the one its handlers write (Schema set in
// ingest.Config, forgotten in tokenstd.Config, or the other way round) is
// refused by New, naming both: the checkpoint would move in one schema and
// the history in another, and the withdrawal store, reading the
// checkpoint of its own schema, would wait for ever (the restore
// procedure's tSafe) or reconcile against a stale one. Inside Handlers,
// and with the same schema, as before.
func TestNewRefusesHandlersWritingAnotherSchema(t *testing.T) {
	b, handlers := treasuryHandlers(t)
	for name, h := range handlers {
		_, err := ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Schema: "exchange_history", Handler: h, Logger: quietLog})
		require.Error(t, err, name)
		require.ErrorContains(t, err, `"exchange_history"`, name)
		require.ErrorContains(t, err, `"txhistory"`, name)

		_, err = ingest.New(b.db, b.client, ingest.Config{Parties: []string{treasury}, Handler: h, Logger: quietLog})
		require.NoError(t, err, name)
	}
}

// treasuryHandlers returns a test bundle and the token standard's handlers
// of the treasury in the default schema: the History, and the Reconciler of
// a store naming the treasury, alone and inside Handlers' chains.
func treasuryHandlers(t *testing.T) (*testBundle, map[string]ingest.Handler) {
	t.Helper()
	b := setup(t)
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	store, err := withdrawal.NewStore(b.db, withdrawal.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	recon, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history})
	require.NoError(t, err)
	return b, map[string]ingest.Handler{
		"History":              history,
		"Handlers(History)":    ingest.Handlers(effectsHandler, history),
		"Handlers(Reconciler)": ingest.Handlers(ingest.Handlers(effectsHandler), recon),
	}
}
