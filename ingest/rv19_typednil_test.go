package ingest_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
)

// TestRV19NewRefusesTypedNilHandlers: New refuses a nil Handler in a
// Handlers chain, for "a reconciler whose constructor's error was
// ignored" (TestEmbedNewRefusesNilHandlerInChain). But such a reconciler
// is a nil *withdrawal.Reconciler, which as a Handler is a non-nil
// interface holding a nil pointer: New takes it, and every batch panics in
// its HandleBatch (under PoisonSetAside every transaction is set aside).
// The same for a nil *tokenstd.History given as the Handler itself.
func TestRV19NewRefusesTypedNilHandlers(t *testing.T) {
	db, err := sqlx.Open("postgres", "host=127.0.0.1 port=1 sslmode=disable") // not connected: New refuses before
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	history, _ := tokenstd.NewHistory(tokenstd.Config{})                          // error ignored: nil
	reconciler, _ := withdrawal.NewReconciler(nil, withdrawal.ReconcilerConfig{}) // error ignored: nil
	if history != nil || reconciler != nil {
		t.Fatalf("constructors did not fail: %v %v", history, reconciler)
	}
	for name, h := range map[string]ingest.Handler{
		"Handlers(ok, nil reconciler)": ingest.Handlers(ingest.HandlerFunc(nopHandler), reconciler),
		"nil history":                  history,
		"Handlers(nil HandlerFunc)":    ingest.Handlers(ingest.HandlerFunc(nil)),
	} {
		_, err := ingest.New(db, newEndSource(0, false), ingest.Config{Parties: []string{"treasury::1"}, Handler: h, Poison: ingest.PoisonSetAside})
		if err == nil {
			t.Errorf("%s: New accepted a Handler holding a nil value; each batch would panic in it", name)
		}
	}
}
