// Package conn holds what the example binaries share to reach a
// participant: TLS settings from PEM files, a bearer token read from a file
// another process keeps fresh, and secrets read from files.
package conn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cantonx/txhistory/internal/loopback"
	"github.com/cantonx/txhistory/ledger"
	"google.golang.org/grpc/resolver"
)

// The environment variables the example binaries share: each names the
// setting of the flag of the same name (TXHISTORY_LEDGER is -ledger) or, for
// secrets, holds it (a flag would show it in the process list).
const (
	EnvLedger       = "TXHISTORY_LEDGER"
	EnvAdmin        = "TXHISTORY_ADMIN"
	EnvDSN          = "TXHISTORY_DSN"
	EnvDSNFile      = "TXHISTORY_DSN_FILE"
	EnvParty        = "TXHISTORY_PARTY"
	EnvSchema       = "TXHISTORY_SCHEMA"
	EnvToken        = "TXHISTORY_TOKEN"
	EnvClientSecret = "TXHISTORY_OAUTH_CLIENT_SECRET"
)

// TLS returns the TLS configuration of an endpoint: the CA in caFile (the
// system roots if empty), the client certificate in certFile and keyFile
// (none if either is empty) and the server name to verify (the target's
// host if empty). Errors name the flags -tls-ca and -tls-cert.
//
// The CA is read once, here. The client certificate is read here (a pair
// that cannot be loaded is an error) and again at every TLS handshake, so
// that a certificate rotated in the files (a secret volume's swap) is
// presented from the next connection on, without a restart; a pair that
// cannot be loaded then (one file replaced, not yet the other) is skipped
// for the one read last.
func TLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read -tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-tls-ca %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" && keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s: %w", certFile, pathless(err, keyFile, "the key file (-tls-key)"))
		}
		pair := &keyPairFiles{cert: certFile, key: keyFile, last: &cert}
		cfg.GetClientCertificate = pair.get
	}
	return cfg, nil
}

// keyPairFiles reads a client certificate and its key from their files at
// every handshake, falling back to the pair read last.
type keyPairFiles struct {
	cert, key string

	mu   sync.Mutex
	last *tls.Certificate
}

func (k *keyPairFiles) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(k.cert, k.key)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil {
		k.last = &cert
	}
	return k.last, nil
}

// ErrPlaintextWithTLS is the configuration error of a plaintext connection
// given TLS settings: the binaries refuse it alike, so that the runbook runs
// with any environment the daemon accepts.
var ErrPlaintextWithTLS = errors.New("-plaintext excludes the -tls-* settings")

// CheckPlaintext returns ErrPlaintextWithTLS if plaintext is set together
// with any of the TLS settings given.
func CheckPlaintext(plaintext bool, tlsSettings ...string) error {
	if plaintext && slices.ContainsFunc(tlsSettings, func(s string) bool { return s != "" }) {
		return ErrPlaintextWithTLS
	}
	return nil
}

// pathless drops name, the file err could not open, from err, calling it
// what instead: a setting meant to name the file of a secret may hold the
// secret itself (a token, a client secret, a key's PEM), which an error
// quoting it as a file name would print.
func pathless(err error, name, what string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == name {
		return fmt.Errorf("%s %s: %w", pe.Op, what, pe.Err)
	}
	return err
}

// Secret returns the content of file, trimmed, if one is named, else
// fromEnv. what names the file in errors; neither its content nor its name
// (which may be the secret itself, put in the wrong setting) appears in
// them.
func Secret(fromEnv, file, what string) (string, error) {
	if file == "" {
		return fromEnv, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, pathless(err, file, "its file"))
	}
	return strings.TrimSpace(string(b)), nil
}

// FileToken is a ledger.TokenSource reading a bearer token from a file that
// another process (a sidecar, a secrets agent) keeps fresh. It reads the
// file at every call (the ledger client asks before each call and stream,
// not per message): no change is missed, whether the file is rewritten in
// place or replaced by a rename, however its times and size compare. An
// empty file (one being rewritten in place, or not written yet) is an
// error, which the ledger client retries as UNAVAILABLE rather than send
// an empty token the participant would refuse for good.
type FileToken struct {
	Path string
}

// Token returns the file's token.
func (f *FileToken) Token(context.Context) (string, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", pathless(err, f.Path, "it"))
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", f.Path)
	}
	return tok, nil
}

// CheckTokenURL returns the error every call of ledger.ClientCredentials
// would fail with for tokenURL (ledger.ErrTokenURL: not an absolute http
// or https URL, or plain http to a host that is not a loopback address
// without plaintext, -oauth-plaintext-token-url), naming the flags; nil
// for a URL it takes. It sends no request.
func CheckTokenURL(tokenURL string, plaintext bool) error {
	opts := []ledger.CredentialsOption{ledger.WithHTTPClient(&http.Client{Transport: noRequests{}})}
	if plaintext {
		opts = append(opts, ledger.WithPlaintextTokenURL())
	}
	_, err := ledger.ClientCredentials(context.Background(), tokenURL, "check", "check", opts...).Token(context.Background())
	if errors.Is(err, ledger.ErrTokenURL) {
		return fmt.Errorf("-oauth-token-url: %w (plain http to a host that is not a loopback address, on a trusted link only: -oauth-plaintext-token-url)", err)
	}
	return nil
}

// noRequests is a transport that sends nothing: CheckTokenURL asks the
// token source only for its verdict on the URL.
type noRequests struct{}

func (noRequests) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("not sent: the token URL is only checked")
}

// CheckTarget refuses a participant endpoint (the value of flag, -ledger
// or -admin) whose port is not from 1 to 65535, which gRPC would take for
// an unreachable participant and retry for ever. A gRPC target URI of a
// scheme gRPC resolves (dns:, unix:, unix-abstract:, passthrough:, with or
// without "//") is left to gRPC, and so is a host without a port (gRPC
// dials 443).
func CheckTarget(flag, target string) error {
	if target == "" {
		return nil
	}
	if u, err := url.Parse(target); err == nil && resolver.Get(u.Scheme) != nil {
		return nil
	}
	if net.ParseIP(target) != nil {
		return nil
	}
	_, port, err := net.SplitHostPort(target)
	if err != nil {
		// Without a port, as gRPC's dns resolver reads it.
		if _, _, err := net.SplitHostPort(target + ":443"); err == nil {
			return nil
		}
	}
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 {
		return fmt.Errorf("%s %q: want host:port, the port from 1 to 65535", flag, target)
	}
	return nil
}

// EndpointRefusal is what an OAuth2 token endpoint's refusal blames, as
// TokenEndpointRefusal reads it.
type EndpointRefusal int

const (
	// NotTheEndpoint: the message is not the token endpoint's (the
	// participant refused the token, or the call failed otherwise).
	NotTheEndpoint EndpointRefusal = iota
	// EndpointFault: the endpoint failed without refusing the client (a
	// 5xx, 408, 425 or 429, a network fault): nothing of the settings to
	// change.
	EndpointFault
	// EndpointURL: the endpoint is not served there (404, 405, 410...):
	// -oauth-token-url.
	EndpointURL
	// EndpointClient: the endpoint refused the client (400, 401, 403):
	// its secret, or the audience or scopes asked for.
	EndpointClient
)

// TokenEndpointRefusal reads an error a call failed with, once a token
// from an OAuth2 client-credentials endpoint was asked for: the endpoint's
// refusal (ledger.TokenEndpointError) reaches the call as UNAUTHENTICATED
// with its message only, so the message is what tells it apart from the
// participant's refusal of the token.
func TokenEndpointRefusal(err error) EndpointRefusal {
	msg := err.Error()
	switch {
	case !strings.Contains(msg, "OAuth2 token endpoint"):
		return NotTheEndpoint
	case !strings.Contains(msg, ": HTTP 4"),
		// Statuses a later attempt can pass (ledger.TokenEndpointError.Rejected).
		strings.Contains(msg, ": HTTP 408 "), strings.Contains(msg, ": HTTP 425 "), strings.Contains(msg, ": HTTP 429 "):
		return EndpointFault
	case strings.Contains(msg, ": HTTP 400 "), strings.Contains(msg, ": HTTP 401 "), strings.Contains(msg, ": HTTP 403 "):
		return EndpointClient
	}
	return EndpointURL
}

// RemoteTarget reports whether a participant endpoint (a gRPC target)
// names a host that is not this machine's loopback: with -plaintext and a
// bearer token, the token then crosses the network unencrypted. A unix
// socket, localhost and 127.0.0.0/8 or ::1 are not remote; a name gRPC
// resolves (other than localhost) is taken for remote.
func RemoteTarget(target string) bool {
	host := target
	if u, err := url.Parse(target); err == nil && resolver.Get(u.Scheme) != nil {
		if strings.HasPrefix(u.Scheme, "unix") {
			return false
		}
		// dns:///host:port, passthrough:///host:port; dns:host:port.
		host = strings.TrimPrefix(u.Path, "/")
		if u.Opaque != "" {
			host = u.Opaque
		}
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return !loopback.Host(strings.Trim(host, "[]"))
}

// MayBeToken reports whether s, given to -token-env as a variable's name,
// may be the token itself ("-token-env $LEDGER_TOKEN", the shell expanding
// it): it is not a shell variable's name (a JWT has dots), or it is the
// value of one of the process's variables (an opaque token may look like a
// name). What it reports true for must not be printed.
func MayBeToken(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return true
		}
	}
	if s == "" {
		return false
	}
	for _, kv := range os.Environ() {
		if _, v, _ := strings.Cut(kv, "="); v == s {
			return true
		}
	}
	return false
}

// ErrTokenEnvNotAName is the refusal of a -token-env value MayBeToken
// reports true for; it does not quote the value.
var ErrTokenEnvNotAName = errors.New("-token-env takes the name of an environment variable holding the token, and was given something else (not printed: it may be the token itself)")
