package ingest_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/pgtest"
)

// TestEmbedNewRefusesUnknownPolicies: a PoisonPolicy or LockPolicy that is
// none of the constants (a configuration mapped to the wrong number) is
// refused by New, as tokenstd.NewHistory refuses an unknown ErrorPolicy,
// rather than silently taken for PoisonHalt or LockWait.
func TestEmbedNewRefusesUnknownPolicies(t *testing.T) {
	db := pgtest.NewDB(t)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: "127.0.0.1:1", Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for name, cfg := range map[string]ingest.Config{
		"Poison": {Parties: []string{"treasury::1"}, Poison: ingest.PoisonSetAside + 1},
		"Lock":   {Parties: []string{"treasury::1"}, Lock: ingest.LockNone + 1},
	} {
		if _, err := ingest.New(db, client, cfg); err == nil {
			t.Errorf("%s: an unknown policy was accepted", name)
		}
	}
}
