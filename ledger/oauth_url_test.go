package ledger_test

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// countingTransport counts the requests it is given and sends them to
// target (its scheme and host), whatever URL they name: a token endpoint "on another
// machine" that is in fact the test's own.
type countingTransport struct {
	target *url.URL
	n      atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = c.target.Scheme, c.target.Host, c.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

// A plain http token URL to a host that is not a loopback address would send
// the client secret unencrypted across the network: it is refused before any
// request, and the Ledger API call fails as a configuration error that
// ingestion does not retry (it used to be sent, and an unreachable
// one retried for ever as UNAVAILABLE).
func TestClientCredentialsRefusesPlainHTTPToAnotherHost(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	target, err := url.Parse(ep.srv.URL)
	require.NoError(t, err)
	rt := &countingTransport{target: target}
	hc := &http.Client{Transport: rt}

	src := ledger.ClientCredentials(context.Background(), "http://idp.example.com/oauth/token", "ingester", "s3cr3t-client", ledger.WithHTTPClient(hc))
	_, err = src.Token(ctxT(t))
	require.ErrorIs(t, err, ledger.ErrTokenURL)
	var te *ledger.TokenEndpointError
	require.ErrorAs(t, err, &te)
	require.Equal(t, "http://idp.example.com/oauth/token", te.TokenURL)
	require.ErrorContains(t, err, "WithPlaintextTokenURL")
	require.Zero(t, rt.n.Load(), "no request was sent")

	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true, Tokens: src}})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.LedgerEnd(ctxT(t))
	require.ErrorIs(t, err, ledger.ErrUnauthenticated)
	require.True(t, ledger.IsAuth(err), "%v", err)
	require.False(t, ledger.IsRetryable(err), "%v", err)
	require.ErrorContains(t, err, "idp.example.com")
	require.NotContains(t, err.Error(), "s3cr3t-client")
	require.Zero(t, rt.n.Load())

	// With WithPlaintextTokenURL the same URL is used: the request is
	// sent (to the test's endpoint) and a token comes back.
	ok := ledger.ClientCredentials(context.Background(), "http://idp.example.com/oauth/token", "ingester", "s3cr3t-client",
		ledger.WithHTTPClient(hc), ledger.WithPlaintextTokenURL())
	tok, err := ok.Token(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "access-1", tok)
	require.EqualValues(t, 1, rt.n.Load())
}

// Token URLs that are not absolute http or https URLs are configuration
// errors, refused before a request; http to a loopback host and https are
// taken.
func TestClientCredentialsTokenURLs(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	target, err := url.Parse(ep.srv.URL)
	require.NoError(t, err)
	rt := &countingTransport{target: target}
	hc := &http.Client{Transport: rt}
	for _, raw := range []string{"", "oauth/token", "/oauth/token", "ftp://idp.example.com/token", "idp.example.com:443/token",
		"http://10.0.0.7/token", "http://[fd00::1]:8080/token", "HTTP://idp.example.com/token", "https:/token", "http://localhost.example.com/token"} {
		_, err := ledger.ClientCredentials(context.Background(), raw, "ingester", "s3cr3t-client", ledger.WithHTTPClient(hc)).Token(ctxT(t))
		require.ErrorIs(t, err, ledger.ErrTokenURL, "%q", raw)
	}
	require.Zero(t, rt.n.Load(), "no request was sent")
	for _, raw := range []string{"http://localhost/oauth/token", "http://LOCALHOST:8080/oauth/token", "http://127.0.0.2/oauth/token",
		"http://[::1]/oauth/token", "https://idp.example.com/oauth/token"} {
		_, err := ledger.ClientCredentials(context.Background(), raw, "ingester", "s3cr3t-client", ledger.WithHTTPClient(hc)).Token(ctxT(t))
		require.NoError(t, err, "%q", raw)
	}
	require.EqualValues(t, 5, rt.n.Load())
}
