package ingest_test

import (
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
)

// TestEmbedNewRefusesZeroValueHandlers: a handler written as a zero value
// (&withdrawal.Reconciler{}, &tokenstd.History{}) instead of through its
// constructor is refused by New with an error naming the constructor, not
// a nil-pointer panic inside New (the Reconciler's) nor a schema mismatch
// naming an empty schema (the History's).
func TestEmbedNewRefusesZeroValueHandlers(t *testing.T) {
	db := pgtest.NewDB(t)
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
	for _, tc := range []struct {
		name string
		h    ingest.Handler
		want string
	}{
		{"reconciler", &withdrawal.Reconciler{}, "withdrawal.NewReconciler"},
		{"history", &tokenstd.History{}, "tokenstd.NewHistory"},
		{"chain", ingest.Handlers(ingest.Handlers(&tokenstd.History{})), "tokenstd.NewHistory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("New panicked on a zero-value handler: %v", r)
					}
				}()
				_, err = ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}, Handler: tc.h})
			}()
			if err == nil {
				t.Fatal("New accepted a zero-value handler")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New's error does not name the constructor %s: %v", tc.want, err)
			}
		})
	}
}
