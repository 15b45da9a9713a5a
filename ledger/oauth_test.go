package ledger_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// tokenEndpoint is a local OAuth2 token endpoint for the client-credentials
// grant: it checks the client's id, secret and audience, and issues tokens
// "<prefix>-<n>" living ttl.
type tokenEndpoint struct {
	srv      *httptest.Server
	id       string
	secret   string
	audience string
	prefix   string

	mu       sync.Mutex
	ttl      time.Duration
	delay    time.Duration
	fail     int // HTTP status to answer with instead of a token; 0: none
	issued   []string
	requests int
	onIssue  func(token string)
}

func newTokenEndpoint(t *testing.T, id, secret, audience string) *tokenEndpoint {
	t.Helper()
	return startTokenEndpoint(t, httptest.NewServer, id, secret, audience)
}

// startTokenEndpoint is newTokenEndpoint on a server that start makes:
// httptest.NewServer, or httptest.NewTLSServer for HTTPS.
func startTokenEndpoint(t *testing.T, start func(http.Handler) *httptest.Server, id, secret, audience string) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{id: id, secret: secret, audience: audience, prefix: "access", ttl: time.Hour}
	e.srv = start(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *tokenEndpoint) URL() string { return e.srv.URL + "/oauth/token" }

func (e *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.requests++
	delay, fail := e.delay, e.fail
	e.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	reject := func(code int, errCode, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": errCode, "error_description": desc})
	}
	if fail != 0 {
		// A careless endpoint that echoes the request: whatever it sends
		// back must not reach logs or errors.
		_ = r.ParseForm()
		user, pass, _ := r.BasicAuth()
		reject(fail, "server_error", fmt.Sprintf("cannot serve %s:%s %v", user, pass, r.PostForm))
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
		reject(http.StatusNotFound, "invalid_request", "no such endpoint")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		reject(http.StatusBadRequest, "unsupported_grant_type", "want client_credentials")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != e.id || secret != e.secret {
		reject(http.StatusUnauthorized, "invalid_client", "client authentication failed for secret "+secret)
		return
	}
	if e.audience != "" && r.PostForm.Get("audience") != e.audience {
		reject(http.StatusBadRequest, "invalid_request", "wrong audience "+r.PostForm.Get("audience"))
		return
	}
	e.mu.Lock()
	tok := fmt.Sprintf("%s-%d", e.prefix, len(e.issued)+1)
	e.issued = append(e.issued, tok)
	ttl, onIssue := e.ttl, e.onIssue
	e.mu.Unlock()
	if onIssue != nil {
		onIssue(tok)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl / time.Second), "scope": r.PostForm.Get("scope"),
	})
}

func (e *tokenEndpoint) set(f func(e *tokenEndpoint)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

func (e *tokenEndpoint) counts() (requests, issued int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests, len(e.issued)
}

func TestClientCredentialsCachesToken(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "https://daml.com/jwt/aud/participant/p1")
	src := ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", "s3cr3t-client",
		ledger.WithAudience("https://daml.com/jwt/aud/participant/p1"), ledger.WithScopes("daml_ledger_api"))
	for range 50 {
		tok, err := src.Token(ctxT(t))
		require.NoError(t, err)
		require.Equal(t, "access-1", tok)
	}
	requests, _ := ep.counts()
	require.Equal(t, 1, requests, "a valid token is reused")
}

// A token living two seconds is replaced after about one: the source
// refreshes before expiry, and only then.
func TestClientCredentialsRefreshesBeforeExpiry(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	ep.set(func(e *tokenEndpoint) { e.ttl = 2 * time.Second })
	src := ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", "s3cr3t-client")
	first, err := src.Token(ctxT(t))
	require.NoError(t, err)
	calls := 0
	require.Eventually(t, func() bool {
		calls++
		tok, err := src.Token(ctxT(t))
		require.NoError(t, err)
		return tok != first
	}, 10*time.Second, 10*time.Millisecond)
	requests, issued := ep.counts()
	require.Equal(t, 2, issued)
	require.Equal(t, 2, requests)
	require.Greater(t, calls, 2, "the first token was served from the cache in between")
}

// Concurrent callers wait for one fetch instead of each asking the endpoint.
func TestClientCredentialsSingleFetch(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	ep.set(func(e *tokenEndpoint) { e.delay = 50 * time.Millisecond })
	src := ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", "s3cr3t-client")
	var wg sync.WaitGroup
	var failures atomic.Int32
	for range 20 {
		wg.Go(func() {
			if tok, err := src.Token(context.Background()); err != nil || tok != "access-1" {
				failures.Add(1)
			}
		})
	}
	wg.Wait()
	require.Zero(t, failures.Load())
	requests, _ := ep.counts()
	require.Equal(t, 1, requests)
}

// The participant accepts the endpoint's tokens over the Ledger API; a
// rejected client secret is UNAUTHENTICATED (not retried), a failing
// endpoint UNAVAILABLE (retried); no error quotes the secret, even when the
// endpoint echoes it back.
func TestClientCredentialsAgainstParticipant(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "")
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	ep.set(func(e *tokenEndpoint) { e.onIssue = p.SetToken })
	dial := func(secret string) *ledger.Client {
		c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true,
			Tokens: ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", secret)}})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}

	_, err = dial("s3cr3t-client").LedgerEnd(ctxT(t))
	require.NoError(t, err)

	_, err = dial("wrong-s3cr3t").LedgerEnd(ctxT(t))
	require.ErrorIs(t, err, ledger.ErrUnauthenticated)
	require.False(t, ledger.IsRetryable(err))
	require.Contains(t, err.Error(), "invalid_client")
	require.Contains(t, err.Error(), "HTTP 401")
	require.NotContains(t, err.Error(), "wrong-s3cr3t")

	ep.set(func(e *tokenEndpoint) { e.fail = http.StatusServiceUnavailable })
	_, err = dial("s3cr3t-client").LedgerEnd(ctxT(t))
	require.Error(t, err)
	require.True(t, ledger.IsRetryable(err), "a failing token endpoint is worth retrying: %v", err)
	require.NotContains(t, err.Error(), "s3cr3t-client")
	require.Contains(t, err.Error(), "HTTP 503")
}

// A token endpoint whose certificate the client does not trust fails the
// Ledger API call as a refused TLS handshake (ledger.ErrTLS, not retried),
// naming the token endpoint rather than the participant.
func TestClientCredentialsUntrustedEndpoint(t *testing.T) {
	ep := startTokenEndpoint(t, httptest.NewTLSServer, "ingester", "s3cr3t-client", "") // httptest's own CA
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true,
		Tokens: ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", "s3cr3t-client")}})
	require.NoError(t, err)
	defer c.Close()

	_, err = c.LedgerEnd(ctxT(t))
	require.ErrorIs(t, err, ledger.ErrTLS)
	require.False(t, ledger.IsRetryable(err))
	require.ErrorContains(t, err, "OAuth2 token endpoint "+ep.srv.URL)
	require.ErrorContains(t, err, "x509: certificate signed by unknown authority")
	require.NotContains(t, err.Error(), "s3cr3t-client")
	requests, _ := ep.counts()
	require.Zero(t, requests, "no request reached the endpoint")
}

func TestClientCredentialsErrors(t *testing.T) {
	ep := newTokenEndpoint(t, "ingester", "s3cr3t-client", "aud-1")

	// Wrong audience: the endpoint's description comes through, as the
	// OAuth2 error code.
	_, err := ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", "s3cr3t-client", ledger.WithAudience("aud-2")).Token(ctxT(t))
	var te *ledger.TokenEndpointError
	require.ErrorAs(t, err, &te)
	require.Equal(t, http.StatusBadRequest, te.StatusCode)
	require.Equal(t, "invalid_request", te.ErrorCode)
	require.True(t, te.Rejected())

	// The echoing endpoint: the secret is redacted from the description.
	ep.set(func(e *tokenEndpoint) { e.fail = http.StatusUnauthorized })
	_, err = ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", "s3cr3t-client", ledger.WithAudience("aud-1")).Token(ctxT(t))
	require.ErrorAs(t, err, &te)
	require.NotContains(t, err.Error(), "s3cr3t-client")
	require.Contains(t, err.Error(), "REDACTED")

	// Nothing listens: a transport error, not a rejection. User info and
	// query of the token URL are not quoted.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	lis.Close()
	_, err = ledger.ClientCredentials(context.Background(), "http://user:pw-in-url@"+addr+"/token?key=query-secret", "ingester", "s3cr3t-client").Token(ctxT(t))
	require.ErrorAs(t, err, &te)
	require.False(t, te.Rejected())
	require.Zero(t, te.StatusCode)
	require.NotContains(t, err.Error(), "pw-in-url")
	require.NotContains(t, err.Error(), "query-secret")
	require.Contains(t, err.Error(), addr)

	// The caller's context bounds the fetch.
	ep.set(func(e *tokenEndpoint) { e.fail, e.delay = 0, 300*time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", "s3cr3t-client", ledger.WithAudience("aud-1")).Token(ctx)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
}

// A token endpoint that echoes the request (body and Authorization header)
// in its error description quotes the secret encoded as it was sent, in the
// form body and in the Basic header: none of it reaches the error.
func TestEchoedEncodedSecretIsRedacted(t *testing.T) {
	const id, secret = "ingester", "Zk9+q/w8=Lm&x y"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "server_error",
			"error_description": "cannot serve " + string(body) + " with " + r.Header.Get("Authorization")})
	}))
	defer srv.Close()
	_, err := ledger.ClientCredentials(context.Background(), srv.URL+"/token", id, secret).Token(context.Background())
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "REDACTED", "the echo did not reach the error: the test shows nothing")
	for _, leak := range []string{secret, url.QueryEscape(secret), base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))} {
		require.NotContains(t, msg, leak)
	}
}

// RFC 6749 §5.1 makes expires_in only recommended. An identity provider
// that leaves it out still issues JWTs that the participant refuses after
// their exp claim: the source must replace such a token before its exp,
// not serve it for ever. A token that is not a JWT has no known expiry.
func TestClientCredentialsWithoutExpiresIn(t *testing.T) {
	var issued atomic.Int32
	var opaque atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := issued.Add(1)
		tok := fmt.Sprintf("opaque-%d", n)
		if !opaque.Load() {
			b64 := base64.RawURLEncoding.EncodeToString
			claims, _ := json.Marshal(map[string]any{"sub": "ingester", "exp": time.Now().Add(time.Hour).Unix(), "n": n})
			tok = b64([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + b64(claims) + "." + b64([]byte("sig"))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer"}) // no expires_in
	}))
	defer srv.Close()
	ctx := context.Background()
	clock := time.Now()
	src := ledger.ClientCredentials(ctx, srv.URL+"/token", "ingester", "s3cr3t")
	ledger.SetCredentialsClock(src, func() time.Time { return clock })

	first, err := src.Token(ctx)
	require.NoError(t, err)
	clock = clock.Add(30 * time.Minute)
	again, err := src.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, first, again, "cached while its exp is far")
	clock = clock.Add(29*time.Minute + 30*time.Second) // within RefreshBeforeDefault of exp
	renewed, err := src.Token(ctx)
	require.NoError(t, err)
	require.NotEqual(t, first, renewed, "a JWT about to expire is still served (%d token(s) fetched)", issued.Load())

	opaque.Store(true)
	plain := ledger.ClientCredentials(ctx, srv.URL+"/token", "ingester", "s3cr3t")
	ledger.SetCredentialsClock(plain, func() time.Time { return clock })
	o1, err := plain.Token(ctx)
	require.NoError(t, err)
	require.Contains(t, o1, "opaque-")
	clock = clock.Add(24 * time.Hour)
	o2, err := plain.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, o1, o2, "an opaque token without expires_in has no known expiry")
}

// A token URL with the wrong path (404), or an endpoint that does not take
// POST there (405), is a configuration no retry fixes: rejected, so that a
// Ledger API call fails with UNAUTHENTICATED and ingestion stops naming it,
// instead of retrying it for ever. 408 and 429 stay retried, as do 5xx.
func TestClientCredentialsWrongPathIsRejected(t *testing.T) {
	for _, c := range []struct {
		status   int
		rejected bool
	}{
		{http.StatusNotFound, true},
		{http.StatusMethodNotAllowed, true},
		{http.StatusGone, true},
		{http.StatusRequestTimeout, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusBadGateway, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no such thing", c.status)
		}))
		_, err := ledger.ClientCredentials(context.Background(), srv.URL+"/oauth/wrong", "ingester", "s3cr3t-client").Token(ctxT(t))
		srv.Close()
		requireTokenStatus(t, err, c.status, c.rejected, "")
		require.Contains(t, err.Error(), fmt.Sprintf("HTTP %d", c.status))
		require.NotContains(t, err.Error(), "s3cr3t-client")
	}
}

// An identity provider that says in the OAuth2 error code that it cannot
// serve the request for now (temporarily_unavailable, server_error: RFC
// 6749's codes for a server's transient condition, which Microsoft Entra
// ID documents as to retry whatever the HTTP status) has not rejected the
// client, even with a 4xx status: retried (UNAVAILABLE), not stopping
// ingestion as a wrong secret or token URL does.
func TestClientCredentialsTransientErrorCodeIsRetried(t *testing.T) {
	for _, c := range []struct {
		status int
		code   string
	}{
		{http.StatusBadRequest, "temporarily_unavailable"},
		{http.StatusNotFound, "temporarily_unavailable"},
		{http.StatusBadRequest, "server_error"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(c.status)
			_, _ = fmt.Fprintf(w, `{"error":%q,"error_description":"AADSTS90033: A transient error has occurred. Please try again."}`, c.code)
		}))
		_, err := ledger.ClientCredentials(context.Background(), srv.URL+"/oauth/token", "ingester", "s3cr3t-client").Token(ctxT(t))
		srv.Close()
		var te *ledger.TokenEndpointError
		require.ErrorAs(t, err, &te, "HTTP %d %s", c.status, c.code)
		require.Equal(t, c.code, te.ErrorCode)
		require.False(t, te.Rejected(), "HTTP %d %s: Rejected", c.status, c.code)
		require.Equal(t, codes.Unavailable, status.Code(err), "HTTP %d %s: %v", c.status, c.code, err)
	}
}

// A token URL that has served a token is the right one: a 404 (or 405,
// 410) from it later is a proxy or load balancer in front of the identity
// provider answering while its routes change, retried as UNAVAILABLE. A
// 401 later still is a rejection (a secret revoked).
func TestClientCredentialsWrongPathAfterATokenIsRetried(t *testing.T) {
	var answer atomic.Int32 // 0: a token living one second; else that status
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := int(answer.Load()); code != 0 {
			http.Error(w, "404 page not found", code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok", "token_type": "Bearer", "expires_in": 1})
	}))
	t.Cleanup(srv.Close)
	src := ledger.ClientCredentials(context.Background(), srv.URL+"/oauth/token", "ingester", "s3cr3t-client")
	_, err := src.Token(ctxT(t))
	require.NoError(t, err)

	time.Sleep(1100 * time.Millisecond) // the token has expired: the next call fetches
	for _, c := range []struct {
		status   int
		rejected bool
	}{{http.StatusNotFound, false}, {http.StatusMethodNotAllowed, false}, {http.StatusUnauthorized, true}} {
		answer.Store(int32(c.status))
		_, err = src.Token(ctxT(t))
		requireTokenStatus(t, err, c.status, c.rejected, " after the URL served a token")
	}
}

// requireTokenStatus requires err to be a *ledger.TokenEndpointError for
// HTTP status, a rejection (UNAUTHENTICATED) or not (UNAVAILABLE) as
// rejected says; when names the case in the messages.
func requireTokenStatus(t *testing.T, err error, httpStatus int, rejected bool, when string) {
	t.Helper()
	var te *ledger.TokenEndpointError
	require.ErrorAs(t, err, &te, "HTTP %d%s", httpStatus, when)
	require.Equal(t, httpStatus, te.StatusCode)
	require.Equal(t, rejected, te.Rejected(), "HTTP %d%s: Rejected", httpStatus, when)
	want := codes.Unavailable
	if rejected {
		want = codes.Unauthenticated
	}
	require.Equal(t, want, status.Code(err), "HTTP %d%s: %v", httpStatus, when, err)
}
