package embedcheck

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
)

func TestEmbedOAuthRejected(t *testing.T) {
	e := newExch(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret s3cr3t"}`))
	}))
	defer srv.Close()
	p, err := ledgertest.New(ledgertest.WithToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true,
		Tokens: ledger.ClientCredentials(context.Background(), srv.URL, "id", "s3cr3t")}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ing, err := ingest.New(e.db, client, ingest.Config{Parties: []string{treasury}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	err = ing.Run(ctx)
	var te *ledger.TokenEndpointError
	t.Logf("err: %v", err)
	if !errors.Is(err, ledger.ErrUnauthenticated) || !errors.As(err, &te) {
		t.Fatalf("got %v", err)
	}
	// wrong static token
	client2, _ := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true, Tokens: ledger.StaticToken("wrong")}})
	defer client2.Close()
	ing2, _ := ingest.New(e.db, client2, ingest.Config{Parties: []string{treasury}, Logger: quiet})
	err = ing2.Run(ctx)
	t.Logf("err2: %v", err)
	if !errors.Is(err, ledger.ErrUnauthenticated) || !ledger.IsAuth(err) {
		t.Fatalf("got %v", err)
	}
}
