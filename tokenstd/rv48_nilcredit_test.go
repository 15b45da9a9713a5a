package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/tokenstd"
)

// TestEmbedNewHistoryRefusesNilCredit: a Credit holding a nil func (a
// CreditFunc of a function the exchange left unset) is refused by
// NewHistory, as ingest.New refuses a Handler holding one, rather than
// panicking at the first deposit inside an ingestion batch (which halts
// ingestion, or sets the deposit aside uncredited under PoisonSetAside).
func TestEmbedNewHistoryRefusesNilCredit(t *testing.T) {
	if _, err := tokenstd.NewHistory(tokenstd.Config{Treasury: "treasury::1", Credit: tokenstd.CreditFunc(nil)}); err == nil {
		t.Fatal("NewHistory accepted Credit: CreditFunc(nil)")
	}
}
