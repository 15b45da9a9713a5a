package tokenstd_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
)

// TestEmbedEmptyInterfacesStillRecordsDeposits: ingest.Config.Interfaces
// is documented as "Nil: the token standard v1 interfaces". An empty,
// non-nil list (what decoding "interfaces: []" from a configuration file
// gives) must not silently drop the interface views the History handler
// needs: without them a deposit is recorded as an "other" entry of amount
// 0, never credited, and Run returns nil.
func TestEmbedEmptyInterfacesStillRecordsDeposits(t *testing.T) {
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
	const treasury, alice = "treasury::1220aa", "alice::1220bb"
	w := &ledgertest.TokenWorld{}
	if _, err := p.Append(w.Mint(alice, "50"), w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-7"})); err != nil {
		t.Fatal(err)
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{treasury}, Interfaces: []ledger.Identifier{},
		Handler: history, EndOffset: p.LedgerEnd(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.Run(ctx); err != nil {
		t.Fatal(err)
	}
	es, err := tokenstd.ListEntries(ctx, db, schema.DefaultName, tokenstd.EntryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Kind != tokenstd.KindDeposit || es[0].Account != "acct-7" || es[0].Amount.String() != "10" {
		for _, e := range es {
			t.Logf("entry: %s %s account %q", e.Kind, e.Amount, e.Account)
		}
		t.Fatalf("want one deposit of 10 to acct-7, got %d entries", len(es))
	}
}
