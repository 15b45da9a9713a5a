package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
)

// TestEmbedWrongOrderUnderSetAsideStops: an exchange chains the handlers
// in the wrong order, ingest.Handlers(reconciler, history), and runs the
// Ingester under PoisonSetAside. ReconcilerConfig.History promises that
// the wrong order fails every batch; it is a fault of the deployment, not
// of any transaction, so Run must stop with it, as it does for a table
// the database lacks, rather than set every transaction aside: their
// deposits would go uncredited to the review table, their update ids
// claimed, so that the corrected chain never ingests them.
func TestEmbedWrongOrderUnderSetAsideStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	p, err := ledgertest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	w := &ledgertest.TokenWorld{}
	w.Mint("alice::1", "100")
	for i := 0; i < 3; i++ {
		if _, err := p.Append(ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: "alice::1", Receiver: treasury, Amount: "1", Reason: "acct-1"}), treasury)); err != nil {
			t.Fatal(err)
		}
	}
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history})
	if err != nil {
		t.Fatal(err)
	}
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, Handler: ingest.Handlers(rec, history),
		Poison: ingest.PoisonSetAside, EndOffset: p.LedgerEnd(), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	runErr := ing.Run(ctx)
	aside, err := ing.SetAsideTransactions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(aside) > 0 {
		t.Errorf("%d of 3 deposits set aside for the chain's order (%s), Run returned %v", len(aside), aside[0].Error, runErr)
	}
	if runErr == nil {
		t.Error("Run returned nil: the wrong order of the chain did not stop it")
	}
	cps, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if cp, _, err := cps.Get(ctx, db); err != nil || cp.UpdateID != "" {
		t.Errorf("checkpoint moved past %q (%v): the deposits are claimed without their effects", cp.UpdateID, err)
	}
}
