package embedcheck

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
)

func TestEmbedWrongOrder(t *testing.T) {
	e := newExch(t)
	history, _ := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
	rec, _ := withdrawal.NewReconciler(e.store, withdrawal.ReconcilerConfig{History: history})
	if _, err := e.p.Append(e.world.Mint(treasury, "5")); err != nil {
		t.Fatal(err)
	}
	ing, _ := ingest.New(e.db, e.client, ingest.Config{Parties: []string{treasury}, Handler: ingest.Handlers(rec, history), Logger: quiet, EndOffset: 1})
	err := ing.Run(e.ctx)
	t.Logf("err: %v", err)
	if err == nil {
		t.Fatal("wrong order accepted")
	}
	// quiet batch (checkpoint only) with wrong order
	e2 := newExch(t)
	history2, _ := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
	rec2, _ := withdrawal.NewReconciler(e2.store, withdrawal.ReconcilerConfig{History: history2})
	e2.p.AdvanceTime("", e2.world.Now().Add(1e9))
	ing2, _ := ingest.New(e2.db, e2.client, ingest.Config{Parties: []string{treasury}, Handler: ingest.Handlers(rec2, history2), Logger: quiet, EndOffset: 1})
	err = ing2.Run(e2.ctx)
	t.Logf("err2: %v", err)
}
