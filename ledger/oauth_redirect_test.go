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

// redirectRig starts the token endpoint of client "ingester" (secret
// "s3cr3t-client") and a server answering with redirect, and returns the
// endpoint and both servers' URLs, for a routingTransport.
func redirectRig(t *testing.T, redirect http.HandlerFunc) (ep *tokenEndpoint, redirector, endpoint *url.URL) {
	t.Helper()
	ep = newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	srv := httptest.NewServer(redirect)
	t.Cleanup(srv.Close)
	redirector, err := url.Parse(srv.URL)
	require.NoError(t, err)
	endpoint, err = url.Parse(ep.srv.URL)
	require.NoError(t, err)
	return ep, redirector, endpoint
}

// An https token URL that redirects (308: method and body kept) to plain
// http must not take the client's credentials there: the token URL policy
// (ErrTokenURL) holds for where the request goes, not only for the URL
// configured.
func TestClientCredentialsRefusesRedirectToPlainHTTP(t *testing.T) {
	ep, rURL, eURL := redirectRig(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://idp.example.com/oauth/token", http.StatusPermanentRedirect)
	})
	hc := &http.Client{Transport: routingTransport{
		"https://idp.example.com": rURL,
		"http://idp.example.com":  eURL,
	}}

	src := ledger.ClientCredentials(context.Background(), "https://idp.example.com/oauth/token", "ingester", "s3cr3t-client", ledger.WithHTTPClient(hc))
	tok, err := src.Token(ctxT(t))
	requests, _ := ep.counts()
	require.Zero(t, requests, "the client credentials were sent over plain http (token %q)", tok)
	require.ErrorIs(t, err, ledger.ErrTokenURL)
	require.ErrorContains(t, err, "http://idp.example.com")
	require.NotContains(t, err.Error(), "s3cr3t-client")

	// With WithPlaintextTokenURL the redirect is followed.
	ok := ledger.ClientCredentials(context.Background(), "https://idp.example.com/oauth/token", "ingester", "s3cr3t-client",
		ledger.WithHTTPClient(hc), ledger.WithPlaintextTokenURL())
	tok, err = ok.Token(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "access-1", tok)
}

// A 307 or 308 resends the form, and with it the client secret, wherever
// it points: to another host, even over https, that is a third party the
// exchange never configured. Refused, naming the host; a redirect on the
// same host (a moved path) is followed.
func TestClientCredentialsRefusesRedirectToAnotherHost(t *testing.T) {
	ep, rURL, eURL := redirectRig(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "https://idp.example.com/final", http.StatusTemporaryRedirect)
		case "/final":
			http.NotFound(w, r)
		default:
			http.Redirect(w, r, "https://idp.other-company.example/oauth/token", http.StatusTemporaryRedirect)
		}
	})
	hc := &http.Client{Transport: routingTransport{
		"https://idp.example.com":           rURL,
		"https://idp.other-company.example": eURL,
	}}

	src := ledger.ClientCredentials(context.Background(), "https://idp.example.com/oauth/token", "ingester", "s3cr3t-client", ledger.WithHTTPClient(hc))
	tok, err := src.Token(ctxT(t))
	requests, _ := ep.counts()
	require.Zero(t, requests, "the client credentials were resent to another host (token %q)", tok)
	require.ErrorIs(t, err, ledger.ErrTokenURL)
	require.ErrorContains(t, err, "idp.other-company.example")
	require.NotContains(t, err.Error(), "s3cr3t-client")

	// The same host, another path: followed (to a 404 of the redirector's:
	// only the redirect's policy is checked).
	same := &http.Client{Transport: routingTransport{"https://idp.example.com": rURL}}
	_, err = ledger.ClientCredentials(context.Background(), "https://idp.example.com/moved", "ingester", "s3cr3t-client", ledger.WithHTTPClient(same)).Token(ctxT(t))
	require.NotErrorIs(t, err, ledger.ErrTokenURL, "a redirect on the same host was refused: %v", err)
	require.ErrorContains(t, err, "HTTP 404", "the redirect on the same host was not followed")
}
