package ledger_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

const tlsParty = "treasury::1220aa"

// tlsLedger starts a fake participant with its admin API on its own
// listener, the given TLS configurations, and one transaction.
func tlsLedger(t *testing.T, opts ...ledgertest.Option) (*ledgertest.Participant, *ledger.Transaction) {
	t.Helper()
	p, err := ledgertest.New(append([]ledgertest.Option{ledgertest.WithSeparateAdmin()}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	txs, err := p.Append(&ledger.Transaction{Events: []ledger.Event{&ledger.CreatedEvent{
		ContractID:      "00cid",
		TemplateID:      ledger.MustParseIdentifier("#pkg:Mod:T"),
		CreateArguments: ledger.Record(nil, ledger.F("owner", ledger.Party(tlsParty))),
		WitnessParties:  []string{tlsParty},
		Signatories:     []string{tlsParty},
	}}})
	require.NoError(t, err)
	return p, txs[0]
}

func dialTLS(t *testing.T, p *ledgertest.Participant, ledgerTLS, adminTLS *tls.Config, tokens ledger.TokenSource) *ledger.Client {
	t.Helper()
	c, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: p.Addr(), TLS: ledgerTLS, Tokens: tokens},
		Admin:     ledger.Endpoint{Target: p.AdminAddr(), TLS: adminTLS, Tokens: tokens},
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// useBoth calls the Ledger API (ledger end, one streamed transaction) and
// the admin API (offset by timestamp), and returns their errors.
func useBoth(t *testing.T, c *ledger.Client, tx *ledger.Transaction) (ledgerErr, adminErr error) {
	t.Helper()
	ctx := ctxT(t)
	end, err := c.LedgerEnd(ctx)
	if err == nil {
		require.Equal(t, tx.Offset, end)
		var s *ledger.UpdateStream
		s, err = c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: end, Filter: ledger.Filter{Parties: []string{tlsParty}}})
		if err == nil {
			var u ledger.Update
			u, err = s.Recv()
			s.Close()
			if err == nil {
				require.Equal(t, tx.UpdateID, u.Transaction.UpdateID)
			}
		}
	}
	off, adminErr := c.HighestOffsetByTimestamp(ctx, tx.SynchronizerID, tx.RecordTime, false)
	if adminErr == nil {
		require.Equal(t, tx.Offset, off)
	}
	return err, adminErr
}

// Server-authenticated TLS on both APIs: the client trusts the test CA.
// A client that does not trust it, and a plaintext client, are refused.
func TestTLSLedgerAndAdminAPI(t *testing.T) {
	certs, err := ledgertest.NewCerts("ingester")
	require.NoError(t, err)
	p, tx := tlsLedger(t, ledgertest.WithTLS(certs.ServerConfig(false)))

	lerr, aerr := useBoth(t, dialTLS(t, p, certs.ClientConfig(false), certs.ClientConfig(false), nil), tx)
	require.NoError(t, lerr)
	require.NoError(t, aerr)

	// The system roots do not know the test CA.
	lerr, aerr = useBoth(t, dialTLS(t, p, &tls.Config{}, &tls.Config{}, nil), tx)
	require.ErrorContains(t, lerr, "certificate signed by unknown authority")
	require.ErrorContains(t, aerr, "certificate signed by unknown authority")
	requireTLSRefused(t, lerr, aerr)

	// Another CA's certificates are not trusted either.
	other, err := ledgertest.NewCerts("ingester")
	require.NoError(t, err)
	lerr, _ = useBoth(t, dialTLS(t, p, other.ClientConfig(true), other.ClientConfig(true), nil), tx)
	require.ErrorContains(t, lerr, "certificate signed by unknown authority")
	requireTLSRefused(t, lerr)

	// A certificate for another host name.
	wrongName := certs.ClientConfig(false)
	wrongName.ServerName = "participant.other.example"
	lerr, aerr = useBoth(t, dialTLS(t, p, wrongName, wrongName, nil), tx)
	require.ErrorContains(t, lerr, "not participant.other.example")
	requireTLSRefused(t, lerr, aerr)

	// A plaintext client cannot talk to a TLS server.
	plain, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer plain.Close()
	_, err = plain.LedgerEnd(ctxT(t))
	require.Error(t, err)

	// A TLS client cannot talk to a plaintext server.
	plainSrv, err := ledgertest.New()
	require.NoError(t, err)
	defer plainSrv.Close()
	toPlain, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: plainSrv.Addr(), TLS: certs.ClientConfig(false)}})
	require.NoError(t, err)
	defer toPlain.Close()
	_, err = toPlain.LedgerEnd(ctxT(t))
	require.ErrorContains(t, err, "does not look like a TLS handshake")
	requireTLSRefused(t, err)

	// Nothing listening is unavailability, not a refusal: retryable.
	nobody, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: "127.0.0.1:1", TLS: certs.ClientConfig(false)}})
	require.NoError(t, err)
	defer nobody.Close()
	_, err = nobody.LedgerEnd(ctxT(t))
	require.Error(t, err)
	require.NotErrorIs(t, err, ledger.ErrTLS)
	require.True(t, ledger.IsRetryable(err), "%v", err)
}

// requireTLSRefused checks that each error is a refused TLS handshake, which
// no retry will fix.
func requireTLSRefused(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		require.ErrorIs(t, err, ledger.ErrTLS)
		require.False(t, ledger.IsRetryable(err), "%v", err)
		require.True(t, ledger.IsAuth(err), "%v", err)
	}
}

// Plaintext is refused unless asked for explicitly, on either endpoint.
func TestPlaintextRefusedWithoutInsecure(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	_, err = ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr()}})
	require.ErrorContains(t, err, "set TLS, or Insecure for plaintext")
	_, err = ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true},
		Admin:     ledger.Endpoint{Target: p.AdminAddr()},
	})
	require.ErrorContains(t, err, "admin API")
	require.ErrorContains(t, err, "set TLS, or Insecure for plaintext")
}

// Mutual TLS: the participant accepts only clients presenting a
// certificate of its CA, on the Ledger API and on the admin API.
//
// The refusals are not all ErrTLS: under TLS 1.3 the participant judges the
// client's certificate after the client has finished its side of the
// handshake, so the client sees either the participant's alert (ErrTLS) or,
// if it wrote first, a broken pipe (a retryable network fault). Without a
// certificate, that fault says the participant asked for one.
func TestMutualTLS(t *testing.T) {
	certs, err := ledgertest.NewCerts("ingester")
	require.NoError(t, err)
	p, tx := tlsLedger(t, ledgertest.WithTLS(certs.ServerConfig(true)))

	lerr, aerr := useBoth(t, dialTLS(t, p, certs.ClientConfig(true), certs.ClientConfig(true), nil), tx)
	require.NoError(t, lerr)
	require.NoError(t, aerr)

	// No client certificate: the handshake fails on both APIs.
	lerr, aerr = useBoth(t, dialTLS(t, p, certs.ClientConfig(false), certs.ClientConfig(false), nil), tx)
	require.Error(t, lerr)
	require.Error(t, aerr)
	require.NotErrorIs(t, lerr, context.DeadlineExceeded)
	t.Logf("without a client certificate: %v", lerr)
	for _, err := range []error{lerr, aerr} {
		if !errors.Is(err, ledger.ErrTLS) {
			require.ErrorContains(t, err, "asked for a client certificate during the TLS handshake and this endpoint presents none")
		}
	}

	// A client certificate from another CA is rejected too.
	other, err := ledgertest.NewCerts("intruder")
	require.NoError(t, err)
	bad := certs.ClientConfig(false)
	bad.Certificates = []tls.Certificate{other.Client}
	lerr, _ = useBoth(t, dialTLS(t, p, bad, bad, nil), tx)
	require.Error(t, lerr)

	// A server certificate used as a client certificate (wrong extended key
	// usage) is rejected.
	wrongUsage, _, _, err := certs.Issue("not-a-client", x509.ExtKeyUsageServerAuth, nil, nil)
	require.NoError(t, err)
	bad = certs.ClientConfig(false)
	bad.Certificates = []tls.Certificate{wrongUsage}
	lerr, _ = useBoth(t, dialTLS(t, p, bad, bad, nil), tx)
	require.Error(t, lerr)
}

// The admin API can have its own TLS configuration: here it alone demands a
// client certificate, as when only operators' tools may reach it.
func TestAdminAPIOwnTLS(t *testing.T) {
	certs, err := ledgertest.NewCerts("ingester")
	require.NoError(t, err)
	p, tx := tlsLedger(t, ledgertest.WithTLS(certs.ServerConfig(false)), ledgertest.WithAdminTLS(certs.ServerConfig(true)))

	lerr, aerr := useBoth(t, dialTLS(t, p, certs.ClientConfig(false), certs.ClientConfig(false), nil), tx)
	require.NoError(t, lerr)
	require.Error(t, aerr, "the admin API wants a client certificate")

	lerr, aerr = useBoth(t, dialTLS(t, p, certs.ClientConfig(false), certs.ClientConfig(true), nil), tx)
	require.NoError(t, lerr)
	require.NoError(t, aerr)
}

// A bearer token travels over mutual TLS to both APIs; a wrong one is
// UNAUTHENTICATED and not retryable.
func TestMutualTLSWithToken(t *testing.T) {
	certs, err := ledgertest.NewCerts("ingester")
	require.NoError(t, err)
	p, tx := tlsLedger(t, ledgertest.WithTLS(certs.ServerConfig(true)), ledgertest.WithToken("tls-token-1"))

	lerr, aerr := useBoth(t, dialTLS(t, p, certs.ClientConfig(true), certs.ClientConfig(true), ledger.StaticToken("tls-token-1")), tx)
	require.NoError(t, lerr)
	require.NoError(t, aerr)

	lerr, aerr = useBoth(t, dialTLS(t, p, certs.ClientConfig(true), certs.ClientConfig(true), ledger.StaticToken("tls-token-2")), tx)
	require.ErrorIs(t, lerr, ledger.ErrUnauthenticated)
	require.ErrorIs(t, aerr, ledger.ErrUnauthenticated)
	require.False(t, ledger.IsRetryable(lerr))
}
