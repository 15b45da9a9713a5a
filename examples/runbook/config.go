package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/examples/internal/exampledb"
	"github.com/cantonx/txhistory/ledger"
	"github.com/lib/pq"
)

// envFlags defines flags whose defaults come from environment variables.
// A variable that does not parse is an error naming it, unless its flag is
// given on the command line: never silently the default.
type envFlags struct {
	fs        *flag.FlagSet
	getenv    func(string) string
	malformed map[string]error // by flag name
}

func (e *envFlags) str(p *string, name, envName, def, help string) {
	if v := e.getenv(envName); v != "" {
		def = v
	}
	e.fs.StringVar(p, name, def, help+" ($"+envName+")")
}

func (e *envFlags) boolean(p *bool, name, envName, help string) {
	def := false
	if v := e.getenv(envName); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.malformed[name] = fmt.Errorf("$%s=%q: want true or false", envName, v)
		}
		def = b
	}
	e.fs.BoolVar(p, name, def, help+" ($"+envName+")")
}

func (e *envFlags) int64(p *int64, name, envName string, def int64, help string) {
	if v := e.getenv(envName); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			e.malformed[name] = fmt.Errorf("$%s=%q: want an integer", envName, v)
		} else {
			def = n
		}
	}
	e.fs.Int64Var(p, name, def, help+" ($"+envName+")")
}

// err reports the malformed variables whose flag was not given; call it
// after parsing.
func (e *envFlags) err() error {
	e.fs.Visit(func(f *flag.Flag) { delete(e.malformed, f.Name) })
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(e.malformed)) {
		errs = append(errs, e.malformed[name])
	}
	return errors.Join(errs...)
}

// connSettings are the flags (and variables) saying how to reach the
// participant's two APIs and the Integration DB. They are named as
// examples/ingestd names them, so that the runbook runs with the daemon's
// configuration: every one has a TXHISTORY_* environment variable, and a
// flag given on the command line wins. Secrets (the DSN, a token, the OAuth2
// client secret) belong in the environment or in files: flags show in the
// process list.
type connSettings struct {
	ledger, admin             string
	plaintext                 bool
	tlsCA                     string
	tlsCert, tlsKey           string
	tlsServerName             string
	adminTLSCert, adminTLSKey string
	tokenEnv, tokenFile       string
	oauthTokenURL             string
	oauthClientID             string
	oauthSecretFile           string
	oauthAudience             string
	oauthScopes               string
	oauthPlainTokenURL        bool
	maxRecvMsgSize            int64
	dsn, dsnFile              string
}

func (c *connSettings) define(e *envFlags) {
	e.str(&c.ledger, "ledger", conn.EnvLedger, "", "Ledger API of the participant: host:port or a gRPC target (unix:/path, dns:///host:port)")
	e.str(&c.admin, "admin", conn.EnvAdmin, "", "admin API of the participant: host:port or a gRPC target (unix:/path, dns:///host:port)")
	e.boolean(&c.plaintext, "plaintext", "TXHISTORY_PLAINTEXT", "connect to the participant without TLS (loopback only!)")
	e.str(&c.tlsCA, "tls-ca", "TXHISTORY_TLS_CA", "", "PEM file of the CA that signed the participant's certificates (default: system roots)")
	e.str(&c.tlsCert, "tls-cert", "TXHISTORY_TLS_CERT", "", "PEM client certificate for mutual TLS")
	e.str(&c.tlsKey, "tls-key", "TXHISTORY_TLS_KEY", "", "PEM key of -tls-cert")
	e.str(&c.tlsServerName, "tls-server-name", "TXHISTORY_TLS_SERVER_NAME", "", "name to verify the participant's certificates against (default: the host of -ledger and -admin)")
	e.str(&c.adminTLSCert, "admin-tls-cert", "TXHISTORY_ADMIN_TLS_CERT", "", "client certificate for the admin API (default: -tls-cert)")
	e.str(&c.adminTLSKey, "admin-tls-key", "TXHISTORY_ADMIN_TLS_KEY", "", "key of -admin-tls-cert (default: -tls-key)")
	e.str(&c.tokenFile, "token-file", "TXHISTORY_TOKEN_FILE", "", "file holding a bearer token for both APIs, read again before every call (else $"+conn.EnvToken+")")
	e.fs.StringVar(&c.tokenEnv, "token-env", "", "name of an environment variable holding a bearer token for both APIs (default: $"+conn.EnvToken+")")
	e.str(&c.oauthTokenURL, "oauth-token-url", "TXHISTORY_OAUTH_TOKEN_URL", "", "OAuth2 token endpoint for the client-credentials grant")
	e.str(&c.oauthClientID, "oauth-client-id", "TXHISTORY_OAUTH_CLIENT_ID", "", "OAuth2 client id")
	e.str(&c.oauthSecretFile, "oauth-client-secret-file", "TXHISTORY_OAUTH_CLIENT_SECRET_FILE", "", "file holding the OAuth2 client secret (else $"+conn.EnvClientSecret+")")
	e.str(&c.oauthAudience, "oauth-audience", "TXHISTORY_OAUTH_AUDIENCE", "", "OAuth2 audience parameter")
	e.str(&c.oauthScopes, "oauth-scopes", "TXHISTORY_OAUTH_SCOPES", "", "OAuth2 scopes, space-separated")
	e.boolean(&c.oauthPlainTokenURL, "oauth-plaintext-token-url", "TXHISTORY_OAUTH_PLAINTEXT_TOKEN_URL", "allow an http:// -oauth-token-url to a host that is not loopback (the client secret crosses the network unencrypted: a trusted link only)")
	e.int64(&c.maxRecvMsgSize, "max-recv-msg-size", "TXHISTORY_MAX_RECV_MSG_SIZE", ledger.DefaultMaxRecvMsgSize, "largest message taken from the participant, in bytes: raise it as for ingestd, above the largest transaction the treasury gets")
	e.str(&c.dsnFile, "dsn-file", conn.EnvDSNFile, "", "file holding the PostgreSQL connection string of the Integration DB (else $"+conn.EnvDSN+")")
	e.fs.StringVar(&c.dsn, "dsn", "", "PostgreSQL connection string of the Integration DB; wins over $"+conn.EnvDSN+" and -dsn-file, but shows its password in the process list")
}

// commandLineWins drops the token sources that came from the environment
// when the command line names one (-token-file, -token-env or
// -oauth-token-url): an operator passing the admin-capable token with
// -token-env must not get the daemon's TXHISTORY_TOKEN_FILE instead, nor
// a conflict with its TXHISTORY_OAUTH_* settings. Call it after parsing.
func (c *connSettings) commandLineWins(fs *flag.FlagSet) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["token-file"] && !given["token-env"] && !given["oauth-token-url"] {
		return
	}
	if !given["token-file"] {
		c.tokenFile = ""
	}
	if !given["oauth-token-url"] {
		c.oauthTokenURL = ""
	}
}

// connection is what connSettings resolve to: the endpoints to dial and the
// DSN, with every file read.
type connection struct {
	ledgerAPI, adminAPI ledger.Endpoint // adminAPI.Target "": none
	maxRecvMsgSize      int
	dsn                 string
	// tokenFrom names where the bearer token comes from, for the errors
	// of a participant refusing it.
	tokenFrom string
	// oauthClientID is -oauth-client-id, for the errors of the token
	// endpoint refusing it; "" without OAuth2.
	oauthClientID string
}

// resolve reads the files and secrets the settings name and checks them,
// so that a bad one is a configuration error before anything is dialled.
// ctx bounds the OAuth2 token fetches.
func (c *connSettings) resolve(ctx context.Context, getenv func(string) string) (*connection, error) {
	var errs []error
	out := &connection{dsn: c.dsn}
	if out.dsn == "" {
		dsn, err := conn.Secret(getenv(conn.EnvDSN), c.dsnFile, "-dsn-file")
		errs = append(errs, err)
		out.dsn = dsn
	}
	switch {
	case out.dsn == "":
		errs = append(errs, fmt.Errorf("the Integration DB's connection string is required: $%s or -dsn-file (or -dsn)", conn.EnvDSN))
	default:
		if _, err := pq.NewConnector(out.dsn); err != nil {
			if err := exampledb.EnvRefusal(); err != nil {
				errs = append(errs, err)
			} else {
				// lib/pq's message may quote a piece of the password.
				errs = append(errs, errors.New("the DSN is not a PostgreSQL connection string that lib/pq accepts (its message is withheld: it may quote the password)"))
			}
		}
	}

	errs = append(errs, conn.CheckTarget("-ledger", c.ledger), conn.CheckTarget("-admin", c.admin))
	if c.maxRecvMsgSize <= 0 || c.maxRecvMsgSize > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("-max-recv-msg-size %d: must be positive, at most %d bytes", c.maxRecvMsgSize, math.MaxInt32))
	}
	out.maxRecvMsgSize = int(c.maxRecvMsgSize)
	if (c.tlsCert == "") != (c.tlsKey == "") {
		errs = append(errs, errors.New("-tls-cert and -tls-key go together"))
	}
	if (c.adminTLSCert == "") != (c.adminTLSKey == "") {
		errs = append(errs, errors.New("-admin-tls-cert and -admin-tls-key go together"))
	}
	if err := conn.CheckPlaintext(c.plaintext, c.tlsCA, c.tlsCert, c.tlsServerName, c.adminTLSCert); err != nil {
		errs = append(errs, err)
	}
	tokens, err := c.tokens(ctx, getenv)
	errs = append(errs, err)
	out.tokenFrom = c.tokenFrom(getenv)
	if c.oauthTokenURL != "" {
		out.oauthClientID = c.oauthClientID
	}

	ledgerTLS, err := c.tlsConfig(c.tlsCert, c.tlsKey)
	errs = append(errs, err)
	out.ledgerAPI = ledger.Endpoint{Target: c.ledger, TLS: ledgerTLS, Insecure: c.plaintext, Tokens: tokens}
	if c.admin != "" {
		adminTLS := ledgerTLS
		if c.adminTLSCert != "" {
			adminTLS, err = c.tlsConfig(c.adminTLSCert, c.adminTLSKey)
			errs = append(errs, err)
		}
		out.adminAPI = ledger.Endpoint{Target: c.admin, TLS: adminTLS, Insecure: c.plaintext, Tokens: tokens}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// tlsConfig builds the TLS configuration of an endpoint with the client
// certificate in certFile and keyFile; nil with -plaintext.
func (c *connSettings) tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	if c.plaintext {
		return nil, nil
	}
	return conn.TLS(c.tlsCA, certFile, keyFile, c.tlsServerName)
}

// tokens returns the bearer tokens for both APIs: OAuth2 client
// credentials, else -token-file, else the variable -token-env names, else
// $TXHISTORY_TOKEN; nil for none.
func (c *connSettings) tokens(ctx context.Context, getenv func(string) string) (ledger.TokenSource, error) {
	if c.oauthTokenURL != "" {
		clientSecret, err := conn.Secret(getenv(conn.EnvClientSecret), c.oauthSecretFile, "-oauth-client-secret-file")
		var errs []error
		switch {
		case err != nil:
			errs = append(errs, err)
		case clientSecret == "":
			errs = append(errs, fmt.Errorf("-oauth-token-url needs the client secret in $%s or -oauth-client-secret-file", conn.EnvClientSecret))
		}
		if c.oauthClientID == "" {
			errs = append(errs, errors.New("-oauth-token-url needs -oauth-client-id"))
		}
		if c.tokenFile != "" || c.tokenEnv != "" {
			errs = append(errs, errors.New("choose OAuth2 or a static token, not both"))
		}
		if err := conn.CheckTokenURL(c.oauthTokenURL, c.oauthPlainTokenURL); err != nil {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		var opts []ledger.CredentialsOption
		if c.oauthAudience != "" {
			opts = append(opts, ledger.WithAudience(c.oauthAudience))
		}
		if c.oauthScopes != "" {
			opts = append(opts, ledger.WithScopes(strings.Fields(c.oauthScopes)...))
		}
		if c.oauthPlainTokenURL {
			opts = append(opts, ledger.WithPlaintextTokenURL())
		}
		return ledger.ClientCredentials(ctx, c.oauthTokenURL, c.oauthClientID, clientSecret, opts...), nil
	}
	switch {
	case c.tokenFile != "":
		f := &conn.FileToken{Path: c.tokenFile}
		if _, err := f.Token(ctx); err != nil {
			return nil, err
		}
		return f, nil
	case c.tokenEnv != "":
		tok := getenv(c.tokenEnv)
		if tok == "" && conn.MayBeToken(c.tokenEnv) {
			return nil, conn.ErrTokenEnvNotAName
		}
		if tok == "" {
			return nil, fmt.Errorf("-token-env %s: $%s is empty", c.tokenEnv, c.tokenEnv)
		}
		return ledger.StaticToken(tok), nil
	case getenv(conn.EnvToken) != "":
		return ledger.StaticToken(getenv(conn.EnvToken)), nil
	}
	return nil, nil
}

// tokenFrom names the setting the bearer token comes from, in the order
// tokens takes them.
func (c *connSettings) tokenFrom(getenv func(string) string) string {
	switch {
	case c.oauthTokenURL != "":
		return "the token OAuth2 client " + c.oauthClientID + " gets from -oauth-token-url (its audience -oauth-audience and scopes -oauth-scopes)"
	case c.tokenFile != "":
		return "the token in -token-file " + c.tokenFile
	case c.tokenEnv != "":
		return "the token of $" + c.tokenEnv + " (-token-env)"
	case getenv(conn.EnvToken) != "":
		return "the token of $" + conn.EnvToken
	}
	return ""
}
