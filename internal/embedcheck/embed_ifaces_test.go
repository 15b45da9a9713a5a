package embedcheck

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
)

func TestEmbedEmptyInterfaces(t *testing.T) {
	e := newExch(t)
	if _, err := e.p.Append(e.world.Mint("alice::1", "50"), e.world.Transfer(ledgertest.TransferSpec{Sender: "alice::1", Receiver: treasury, Amount: "10", Reason: "acct"})); err != nil {
		t.Fatal(err)
	}
	history, _ := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
	ing, _ := ingest.New(e.db, e.client, ingest.Config{Parties: []string{treasury}, Handler: history, Logger: quiet, EndOffset: e.p.LedgerEnd(), Interfaces: []ledger.Identifier{}})
	err := ing.Run(e.ctx)
	t.Logf("run: %v", err)
	ents, _ := tokenstd.ListEntries(e.ctx, e.db, schema.DefaultName, tokenstd.EntryFilter{})
	for _, en := range ents {
		t.Logf("entry %s %s %s", en.Kind, en.Amount, en.Account)
	}
	bal, _ := tokenstd.Balances(e.ctx, e.db, schema.DefaultName)
	t.Logf("balances: %v", bal)
}
