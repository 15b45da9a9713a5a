package ledger_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// routingTransport sends each request to the test server that stands for
// its scheme and host, keeping the URL the client sees.
type routingTransport map[string]*url.URL

func (rt routingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	target, ok := rt[r.URL.Scheme+"://"+r.URL.Host]
	if !ok {
		return nil, &url.Error{Op: r.Method, URL: r.URL.String(), Err: http.ErrNotSupported}
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = target.Scheme, target.Host, target.Host
	return http.DefaultTransport.RoundTrip(r)
}

// An https token URL that redirects (308: method and body kept) to plain
// http on another host must not take the client's credentials there: the
// token URL policy (ErrTokenURL) holds for where the request goes, not
// only for the URL configured.
func TestClientCredentialsRefusesRedirectToPlainHTTP(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://idp-legacy.example.com/oauth/token", http.StatusPermanentRedirect)
	}))
	defer redirector.Close()
	rURL, err := url.Parse(redirector.URL)
	require.NoError(t, err)
	eURL, err := url.Parse(ep.srv.URL)
	require.NoError(t, err)
	hc := &http.Client{Transport: routingTransport{
		"https://idp.example.com":       rURL,
		"http://idp-legacy.example.com": eURL,
	}}

	src := ledger.ClientCredentials(context.Background(), "https://idp.example.com/oauth/token", "ingester", "s3cr3t-client", ledger.WithHTTPClient(hc))
	tok, err := src.Token(ctxT(t))
	requests, _ := ep.counts()
	require.Zero(t, requests, "the client credentials were sent over plain http to another host (token %q)", tok)
	require.ErrorIs(t, err, ledger.ErrTokenURL)
	require.ErrorContains(t, err, "idp-legacy.example.com")
	require.NotContains(t, err.Error(), "s3cr3t-client")

	// With WithPlaintextTokenURL the redirect is followed.
	ok := ledger.ClientCredentials(context.Background(), "https://idp.example.com/oauth/token", "ingester", "s3cr3t-client",
		ledger.WithHTTPClient(hc), ledger.WithPlaintextTokenURL())
	tok, err = ok.Token(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "access-1", tok)
}
