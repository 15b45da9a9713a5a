package ledger

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cantonx/txhistory/internal/loopback"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RefreshBeforeDefault is how long before its expiry a client-credentials
// token is replaced by a fresh one, unless the token lives so briefly that
// half its lifetime is shorter.
const RefreshBeforeDefault = time.Minute

// TokenFetchTimeout bounds a token fetch when the HTTP client given with
// WithHTTPClient has no Timeout of its own: the call that needs the token
// (an update stream) may have no deadline.
const TokenFetchTimeout = 30 * time.Second

// CredentialsOption configures ClientCredentials.
type CredentialsOption interface{ applyCredentials(*credentialsConfig) }

type credentialsOptionFunc func(*credentialsConfig)

func (f credentialsOptionFunc) applyCredentials(c *credentialsConfig) { f(c) }

type credentialsConfig struct {
	cc            clientcredentials.Config
	refreshBefore time.Duration
	httpClient    *http.Client
	plaintext     bool
}

// ErrTokenURL is the error of a ClientCredentials source whose token URL
// cannot be used: not an absolute http or https URL, or plain http to a host
// other than a loopback address without WithPlaintextTokenURL (the client
// secret would cross the network in the clear). Its Token calls fail with a
// *TokenEndpointError wrapping ErrTokenURL before any request is sent (or,
// for a token endpoint redirecting to such a URL, or resending the form
// to another host with a 307 or 308, before the redirect), and
// a Ledger API call needing the token fails with UNAUTHENTICATED, which
// ingestion does not retry: no retry fixes a configuration.
var ErrTokenURL = errors.New("ledger: unusable OAuth2 token URL")

// WithScopes asks the token endpoint for these scopes (the "scope"
// parameter). Canton's JWT authorisation usually wants "daml_ledger_api".
// Default: none.
func WithScopes(scopes ...string) CredentialsOption {
	return credentialsOptionFunc(func(c *credentialsConfig) { c.cc.Scopes = append(c.cc.Scopes, scopes...) })
}

// WithAudience sends the "audience" parameter that many identity providers
// (Auth0, Keycloak with a mapper, Okta) need to issue a token the
// participant accepts, e.g. "https://daml.com/jwt/aud/participant/<id>".
// Default: none.
func WithAudience(aud string) CredentialsOption {
	return WithEndpointParam("audience", aud)
}

// WithEndpointParam adds a parameter to every token request, for identity
// providers that need more than scope and audience (e.g. "resource").
func WithEndpointParam(key, value string) CredentialsOption {
	return credentialsOptionFunc(func(c *credentialsConfig) {
		if c.cc.EndpointParams == nil {
			c.cc.EndpointParams = url.Values{}
		}
		c.cc.EndpointParams.Add(key, value)
	})
}

// WithRefreshBefore sets how long before its expiry a token is replaced.
// Default RefreshBeforeDefault (a minute), also for d <= 0 (a token used
// up to its expiry would reach the participant expired); a token living
// less than twice that is replaced after half its lifetime.
func WithRefreshBefore(d time.Duration) CredentialsOption {
	return credentialsOptionFunc(func(c *credentialsConfig) {
		if d > 0 {
			c.refreshBefore = d
		}
	})
}

// WithPlaintextTokenURL allows a plain http token URL to a host that is not
// a loopback address, for a test network or a sidecar reached through a
// trusted link. The client secret and the tokens then cross the network
// unencrypted. Without it such a URL is refused (ErrTokenURL); http to
// localhost, 127.0.0.0/8 or ::1 is always allowed.
func WithPlaintextTokenURL() CredentialsOption {
	return credentialsOptionFunc(func(c *credentialsConfig) { c.plaintext = true })
}

// WithHTTPClient sets the HTTP client that talks to the token endpoint (for
// a private CA, a proxy or timeouts). Default: a client with a 30s timeout.
// A client without a Timeout still has each fetch bounded by
// TokenFetchTimeout.
// The source uses a copy of it whose CheckRedirect first refuses a redirect
// to a URL the token URL policy refuses (see ErrTokenURL), and one that
// resends the form (307, 308) to another host, then asks hc's.
func WithHTTPClient(hc *http.Client) CredentialsOption {
	return credentialsOptionFunc(func(c *credentialsConfig) { c.httpClient = hc })
}

// ClientCredentials returns a TokenSource that obtains access tokens from an
// OAuth2 token endpoint with the client-credentials grant (RFC 6749 §4.4),
// as a machine user of a Canton participant does.
//
// A token is fetched on first use, cached, and replaced shortly before it
// expires (see WithRefreshBefore), so that every new call and stream gets a
// valid token; concurrent callers share one fetch, and its failure. While
// the replacement cannot be fetched, the token held is served until it
// expires. The expiry is the response's expires_in or, where the endpoint
// leaves that out, the exp claim of a JWT access token (read, not
// verified); a token with neither is kept for as long as the source lives.
// A token the participant refuses before then (a stream ended ABORTED
// ACCESS_TOKEN_EXPIRED, a call UNAUTHENTICATED: its clock runs ahead of
// the identity provider's, or the provider revoked it) is dropped
// (TokenInvalidator) and the next call fetches a new one. The context of the call
// that triggers a fetch bounds it. ctx is only consulted for values (an
// *http.Client under oauth2.HTTPClient), never for cancellation.
//
// tokenURL must be an https URL, or plain http to a loopback host
// (localhost, 127.0.0.0/8, ::1); other http URLs need WithPlaintextTokenURL.
// A URL refused fails every Token call with ErrTokenURL, sending nothing;
// a redirect to such a URL, or one resending the form (307, 308: the
// client secret with it) to another host, fails the fetch with
// ErrTokenURL, not followed.
//
// Errors never contain the client secret, a token, or the token endpoint's
// response body: they are *TokenEndpointError values naming the endpoint,
// the HTTP status and the OAuth2 error code. A rejection of the client's
// credentials or of the token URL (an HTTP 4xx status but 408, 425 and
// 429; see TokenEndpointError.Rejected) reaches the caller of a Ledger API
// call as UNAUTHENTICATED, which ingestion does not retry; an unreachable,
// throttling or failing endpoint (an OAuth2 error temporarily_unavailable
// or server_error included, whatever its status) as UNAVAILABLE, which it
// does, except when the endpoint's
// certificate fails verification (ErrTLS, not retried either). The source
// printed (any fmt verb, slog's handlers) shows its token URL and client
// id only.
func ClientCredentials(ctx context.Context, tokenURL, clientID, clientSecret string, opts ...CredentialsOption) TokenSource {
	cfg := credentialsConfig{
		cc: clientcredentials.Config{
			ClientID:     clientID,
			ClientSecret: clientSecret,
			TokenURL:     tokenURL,
		},
		refreshBefore: RefreshBeforeDefault,
	}
	for _, o := range opts {
		o.applyCredentials(&cfg)
	}
	hc := cfg.httpClient
	if hc == nil {
		if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
			hc = c
		} else {
			hc = &http.Client{Timeout: 30 * time.Second}
		}
	}
	return &credentialsSource{cfg: cfg.cc, refreshBefore: cfg.refreshBefore, http: guardRedirects(hc, cfg.plaintext), now: time.Now,
		fetchTimeout: TokenFetchTimeout,
		sem:          make(chan struct{}, 1), urlErr: checkTokenURL(tokenURL, cfg.plaintext)}
}

// guardRedirects returns a copy of hc that refuses a redirect to a URL the
// token URL policy refuses (ErrTokenURL), and one that resends the form
// (a 307 or 308 keeps the method and body, and with them the client
// secret) to another host than the token URL's: a third party the
// exchange never configured, even over https.
func guardRedirects(hc *http.Client, plaintext bool) *http.Client {
	c := *hc
	next := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if why := checkTokenURL(req.URL.String(), plaintext); why != "" {
			return fmt.Errorf("%w: redirected to %s: %s", ErrTokenURL, safeURL(req.URL.String()), why)
		}
		if req.Method != http.MethodGet && req.Method != http.MethodHead && len(via) > 0 && !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
			return fmt.Errorf("%w: redirected to %s: another host than the token URL's, and the redirect resends the client's credentials: configure the token URL it redirects to, if that host is the identity provider's", ErrTokenURL, safeURL(req.URL.String()))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects") // as http.Client does by default
		}
		return nil
	}
	return &c
}

// checkTokenURL returns why raw cannot serve as a token URL (see
// ErrTokenURL), or "".
func checkTokenURL(raw string, plaintext bool) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "not an absolute http or https URL"
	case u.Scheme == "https":
		return ""
	case u.Scheme != "http":
		return fmt.Sprintf("scheme %q: want https", u.Scheme)
	case plaintext || loopback.Host(u.Hostname()):
		return ""
	}
	return "plain http to a host that is not a loopback address would send the client secret unencrypted: use https, or WithPlaintextTokenURL"
}

// credentialsSource caches one token and fetches the next when it is due.
type credentialsSource struct {
	cfg           clientcredentials.Config // a value, used through a pointer: it caches the auth style
	refreshBefore time.Duration
	http          *http.Client
	now           func() time.Time
	fetchTimeout  time.Duration // bounds a fetch whose http has no Timeout

	// sem (capacity 1) guards the fields below and makes concurrent
	// callers wait for one fetch, each as long as its context allows.
	sem     chan struct{}
	token   string
	renewAt time.Time // zero: never (the token has no expiry)
	expiry  time.Time // when token expires; zero: unknown
	// fetchErr is the failure of the last fetch, unless the context of
	// the call that made it ended; fetches counts the fetches, so that a
	// call that waited for a failed one shares its failure.
	fetchErr error
	fetches  atomic.Uint64
	// served: a fetch has had a token from the URL, which is then the
	// right one (TokenEndpointError.Rejected).
	served bool

	urlErr string // why the token URL is refused (ErrTokenURL), or ""

	// refused is a token the participant refused (Invalidate) while the
	// source held it, which Token drops if it still holds it; held is the
	// token held, for Invalidate to ignore a refusal of one it replaced
	// (token is Token's, under sem, which Invalidate does not wait for).
	refusedMu sync.Mutex
	refused   string
	held      string
}

func (s *credentialsSource) Token(ctx context.Context) (string, error) {
	if s.urlErr != "" {
		return "", &TokenEndpointError{TokenURL: safeURL(s.cfg.TokenURL), Reason: s.urlErr, cause: ErrTokenURL}
	}
	seen := s.fetches.Load()
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return "", &TokenEndpointError{TokenURL: safeURL(s.cfg.TokenURL), Reason: "waiting for a token: " + ctx.Err().Error(), cause: ctx.Err()}
	}
	defer func() { <-s.sem }()
	now := s.now()
	s.refusedMu.Lock()
	refused := s.refused
	s.refused = ""
	s.refusedMu.Unlock()
	if refused != "" && refused == s.token {
		s.renewAt, s.expiry = now, now // due, and no longer served if a fetch fails
	}
	if s.token != "" && (s.renewAt.IsZero() || now.Before(s.renewAt)) {
		return s.token, nil
	}
	err := s.fetchErr
	if s.fetches.Load() == seen || err == nil {
		// No fetch ended while this call waited, or the one that did
		// ended with the caller's context: fetch. Otherwise the failure
		// of the fetch it waited for is its answer too.
		err = s.fetch(ctx, now)
		s.fetchErr = nil
		if err != nil && ctx.Err() == nil {
			s.fetchErr = err
		}
		s.fetches.Add(1)
	}
	if err != nil {
		if s.token != "" && s.now().Before(s.expiry) {
			// Due for refresh but still valid: serve it, and try again
			// on the next call.
			return s.token, nil
		}
		return "", err
	}
	return s.token, nil
}

// Format prints the source's token URL and client id, never its client
// secret or the token it holds.
func (s *credentialsSource) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "ledger.ClientCredentials(%s, client %s)", safeURL(s.cfg.TokenURL), s.cfg.ClientID)
}

// Invalidate drops token if it is the one held (see TokenInvalidator): the
// next Token call fetches a new one, and a failed fetch no longer falls
// back to it. The refusal of a token it has replaced changes nothing, nor
// forgets that of the one held. It does not wait for a fetch under way;
// the next Token call applies it.
func (s *credentialsSource) Invalidate(token string) {
	s.refusedMu.Lock()
	if token == s.held {
		s.refused = token
	}
	s.refusedMu.Unlock()
}

// fetch asks the token endpoint for a token and caches it.
func (s *credentialsSource) fetch(ctx context.Context, now time.Time) error {
	if s.http.Timeout <= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.fetchTimeout)
		defer cancel()
	}
	tok, err := s.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, s.http))
	if err != nil {
		return s.endpointError(err)
	}
	if tok.AccessToken == "" {
		return &TokenEndpointError{TokenURL: safeURL(s.cfg.TokenURL), Reason: "the response holds no access token"}
	}
	if tok.Expiry.IsZero() {
		tok.Expiry = jwtExpiry(tok.AccessToken) // no expires_in: the JWT's own exp, if any
	}
	s.token, s.renewAt, s.expiry = tok.AccessToken, time.Time{}, tok.Expiry
	s.served = true
	s.refusedMu.Lock()
	s.held = s.token
	s.refusedMu.Unlock()
	if !tok.Expiry.IsZero() {
		margin := s.refreshBefore
		if life := tok.Expiry.Sub(now); life/2 < margin {
			margin = life / 2
		}
		s.renewAt = tok.Expiry.Add(-margin)
	}
	return nil
}

// jwtExpiry returns the exp claim of a JWT (not verified: it only times
// the refresh), or the zero time for a token that is not a JWT or has none.
func jwtExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}
	}
	exp, err := claims.Exp.Float64()
	if err != nil || exp <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(exp), 0)
}

// endpointError turns an error of the oauth2 package into one that carries
// nothing secret.
func (s *credentialsSource) endpointError(err error) error {
	e := &TokenEndpointError{TokenURL: safeURL(s.cfg.TokenURL), served: s.served}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		// Its Error() quotes the response body, which a misbehaving
		// endpoint may fill with anything: keep only the structured parts.
		if re.Response != nil {
			e.StatusCode = re.Response.StatusCode
		}
		e.ErrorCode = re.ErrorCode
		e.Reason = re.ErrorDescription
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error quotes the URL, whose user info or query may hold
			// anything: keep the operation and the cause only.
			e.Reason = ue.Op + ": " + ue.Err.Error()
			e.cause = ue.Err
		} else {
			e.Reason = err.Error()
			e.cause = err
		}
	}
	forms := secretForms(s.cfg.ClientID, s.cfg.ClientSecret)
	e.ErrorCode = scrub(e.ErrorCode, forms)
	e.Reason = scrub(e.Reason, forms)
	return e
}

// secretForms are the client secret as it is sent to the token endpoint,
// which an endpoint echoing the request in its error would quote: as it
// is, URL-encoded (the form body, and the Basic header before base64), and
// the Basic header's base64 of the client id and secret. Longest first.
func secretForms(id, secret string) []string {
	if secret == "" {
		return nil
	}
	enc := base64.StdEncoding.EncodeToString
	forms := []string{
		enc([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret))),
		enc([]byte(id + ":" + secret)),
		url.QueryEscape(secret),
		url.PathEscape(secret),
		secret,
	}
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(forms)
}

func scrub(s string, forms []string) string {
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, "REDACTED")
	}
	return s
}

// safeURL drops user info, query and fragment from a URL for messages.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable token URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	return u.String()
}

// TokenEndpointError is a failed request to an OAuth2 token endpoint made
// by a ClientCredentials source. It holds no credentials, no token and no
// response body.
type TokenEndpointError struct {
	// TokenURL is the endpoint, without user info or query.
	TokenURL string
	// StatusCode is the HTTP status, 0 if no response arrived.
	StatusCode int
	// ErrorCode is the OAuth2 "error" field, e.g. "invalid_client".
	ErrorCode string
	// Reason is the OAuth2 "error_description", or what went wrong on the
	// way (connection refused, timeout, a response without a token).
	Reason string
	cause  error // a transport or context error, for errors.Is
	served bool  // the URL had served a token before (Rejected)
}

func (e *TokenEndpointError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ledger: OAuth2 token endpoint %s", e.TokenURL)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.ErrorCode != "" {
		fmt.Fprintf(&b, ": %s", e.ErrorCode)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	return b.String()
}

// Unwrap returns the transport or context error behind e, if any.
func (e *TokenEndpointError) Unwrap() error { return e.cause }

// Rejected reports whether the endpoint refused the client's credentials or
// request: any HTTP 4xx status (400, 401 or 403 for credentials; 404, 405
// or 410 for a token URL with a wrong path) but 408 Request Timeout, 425
// Too Early and 429 Too Many Requests, which a later attempt can pass: a
// configuration error no retry fixes. Nor is an answer whose OAuth2 error
// code says the endpoint cannot serve for now (temporarily_unavailable,
// server_error; an identity provider may send them with a 4xx status), nor
// a 4xx other than 400, 401 and 403 from a token URL that has served the
// source a token before: the URL is right, and the answer is a proxy's or
// load balancer's in front of the identity provider, for a while.
func (e *TokenEndpointError) Rejected() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
	default:
		if e.served {
			return false
		}
	}
	if e.ErrorCode == "temporarily_unavailable" || e.ErrorCode == "server_error" {
		return false
	}
	return e.StatusCode >= 400 && e.StatusCode < 500
}

// GRPCStatus makes a Ledger API call whose token could not be obtained fail
// with UNAUTHENTICATED when the credentials were rejected or the token URL
// is refused (ErrTokenURL), neither retried by ingestion, and UNAVAILABLE
// otherwise (retried).
func (e *TokenEndpointError) GRPCStatus() *status.Status {
	if e.Rejected() || errors.Is(e.cause, ErrTokenURL) {
		return status.New(codes.Unauthenticated, e.Error())
	}
	return status.New(codes.Unavailable, e.Error())
}
