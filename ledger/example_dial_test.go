package ledger_test

import (
	"context"
	"fmt"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
)

// Connecting to the participant that hosts the treasury party, as an exchange
// configures it: the Ledger API and the admin API over mutual TLS, and a
// bearer token on every call. Dial connects lazily; the first call
// (LedgerEnd here) is the one that reaches the participant.
func ExampleDial() {
	// A stand-in participant that, like the exchange's, serves only mutual
	// TLS and requires a token. Production has its certificates from files
	// (tls.LoadX509KeyPair, x509.CertPool.AppendCertsFromPEM); here a
	// throwaway CA signs both sides.
	certs, err := ledgertest.NewCerts("exchange-ingester")
	if err != nil {
		panic(err)
	}
	p, err := ledgertest.New(ledgertest.WithTLS(certs.ServerConfig(true)), ledgertest.WithToken("s3cret"))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	if _, err := p.Append(ledgertest.TransferHistory{Treasury: "treasury::1220ex"}.Tx(0)); err != nil {
		panic(err)
	}

	// The token source is asked before every call and stream. In production
	// it is ledger.ClientCredentials(ctx, tokenURL, clientID, secret,
	// ledger.WithScopes("daml_ledger_api")), which refreshes the token before
	// it expires; a StaticToken suits a token that never does. It prints as
	// REDACTED, so the Config can be logged.
	tokens := ledger.StaticToken("s3cret")
	// ClientConfig(true) trusts the CA and presents the client certificate:
	// the tls.Config an exchange fills with RootCAs and Certificates. A
	// loopback participant without TLS would take Insecure: true instead
	// (plaintext is refused without it).
	tlsConfig := certs.ClientConfig(true)
	client, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: p.Addr(), TLS: tlsConfig, Tokens: tokens},
		// The admin API, on its own port, is needed only by the restore
		// runbook (HighestOffsetByTimestamp).
		Admin: ledger.Endpoint{Target: p.AdminAddr(), TLS: tlsConfig, Tokens: tokens},
	})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	ctx := context.Background()
	end, err := client.LedgerEnd(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("ledger end:", end)
	off, err := client.HighestOffsetByTimestamp(ctx, ledgertest.DefaultSynchronizer, ledgertest.DefaultStartTime, false)
	if err != nil {
		panic(err)
	}
	fmt.Println("offset at", ledgertest.DefaultStartTime.Format("2006-01-02T15:04:05Z07:00")+":", off)
	fmt.Printf("token in a log line: %v\n", tokens)
	// Output:
	// ledger end: 1
	// offset at 2026-01-01T00:00:00Z: 1
	// token in a log line: REDACTED
}
