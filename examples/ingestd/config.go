package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/examples/internal/exampledb"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/lib/pq"
)

// config is the daemon's configuration. Every flag has an environment
// variable; a flag given on the command line wins over the variable.
// Secrets (the DSN, the OAuth2 client secret, a static token) are read from
// the environment or from files, never from flags, which other users of the
// machine can read in the process list.
type config struct {
	ledger, admin        string
	synchronizers        []string              // the treasury's, for the withdrawal clock
	instruments          []tokenstd.Instrument // the only ones booked; none: every one
	party, schema        string
	dsn                  string   // from TXHISTORY_DSN or -dsn-file
	demoIgnored          []string // the host's settings -demo did not use
	plaintext            bool
	tlsCA                string
	tlsCert, tlsKey      string
	tlsServerName        string
	adminTLSCert         string
	adminTLSKey          string
	tokenFile            string
	token                string // from TXHISTORY_TOKEN
	oauthTokenURL        string
	oauthClientID        string
	oauthClientSecret    string // from TXHISTORY_OAUTH_CLIENT_SECRET or -oauth-client-secret-file
	oauthAudience        string
	oauthScopes          string
	oauthPlainTokenURL   bool
	metricsAddr          string
	progress             time.Duration
	maxSilence           time.Duration
	logLevel             string
	lock, poison         string
	stallTimeout         time.Duration
	startOffset          int64
	acceptPartiesChange  bool
	maxBatch             int
	streamBuffer         int
	receiveWindow        int
	maxRecvMsgSize       int
	migrate, migrateOnly bool
	migrateTo            int // -1: the latest
	shutdownTimeout      time.Duration
	demo                 bool
	demoRate             int
	demoBacklog          int
	demoFlagsAlone       []string // the demo's flags given without -demo
}

// parseConfig reads args (without the program name) and the environment
// (lookupEnv is os.LookupEnv). A variable set to the empty string counts as
// unset, except TXHISTORY_METRICS_ADDR, whose empty value turns the
// endpoint off as -metrics-addr= does.
func parseConfig(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (*config, error) {
	getenv := func(name string) string {
		v, _ := lookupEnv(name)
		return v
	}
	c := &config{}
	fs := flag.NewFlagSet("ingestd", flag.ContinueOnError)
	fs.SetOutput(usage)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	// A variable that does not parse is an error (naming it), unless its
	// flag is given on the command line: never silently the default.
	malformed := map[string]error{} // by flag name
	envBool := func(flagName, name string, def bool) bool {
		v := getenv(name)
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			malformed[flagName] = fmt.Errorf("$%s=%q: want true or false", name, v)
			return def
		}
		return b
	}
	envDur := func(flagName, name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			malformed[flagName] = fmt.Errorf("$%s=%q: want a duration such as 30s or 5m", name, v)
			return def
		}
		return d
	}
	envInt := func(flagName, name string, def int64) int64 {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			malformed[flagName] = fmt.Errorf("$%s=%q: want an integer", name, v)
			return def
		}
		return n
	}
	str := func(p *string, name, envName, def, help string) {
		fs.StringVar(p, name, env(envName, def), help+" ($"+envName+")")
	}

	str(&c.ledger, "ledger", conn.EnvLedger, "", "Ledger API of the participant: host:port or a gRPC target (unix:/path, dns:///host:port)")
	str(&c.admin, "admin", conn.EnvAdmin, "", "admin API: host:port or a gRPC target (only the restore runbook needs it)")
	str(&c.party, "party", conn.EnvParty, "", "the treasury party id")
	str(&c.schema, "schema", conn.EnvSchema, schema.DefaultName, "PostgreSQL schema of txhistory's tables")
	synchronizers := ""
	str(&synchronizers, "synchronizers", "TXHISTORY_SYNCHRONIZERS", "",
		"comma-separated ids of every synchronizer the treasury's withdrawals may commit on: withdrawals expire by the earliest record time ingested on them, none while one has none (withdrawal.Config.Synchronizers); empty: every synchronizer seen so far")
	instruments := ""
	str(&instruments, "instruments", "TXHISTORY_INSTRUMENTS", "",
		"comma-separated instruments the exchange supports, each id@admin (e.g. Amulet@DSO::1220…): only their holdings and transfers are booked, another instrument's are ignored (tokenstd.Config.Instruments); empty: every instrument, and anyone who creates one can halt ingestion with malformed data of it")
	dsnFile := ""
	str(&dsnFile, "dsn-file", conn.EnvDSNFile, "", "file holding the PostgreSQL connection string, read at start only: restart after rotating its password (else $"+conn.EnvDSN+")")
	fs.BoolVar(&c.plaintext, "plaintext", envBool("plaintext", "TXHISTORY_PLAINTEXT", false), "connect to the participant without TLS (loopback only!) ($TXHISTORY_PLAINTEXT)")
	str(&c.tlsCA, "tls-ca", "TXHISTORY_TLS_CA", "", "PEM file of the CA that signed the participant's certificate (default: system roots); read at start only")
	str(&c.tlsCert, "tls-cert", "TXHISTORY_TLS_CERT", "", "PEM client certificate for mutual TLS; read again at every connection, so a rotated one needs no restart")
	str(&c.tlsKey, "tls-key", "TXHISTORY_TLS_KEY", "", "PEM key of -tls-cert")
	str(&c.tlsServerName, "tls-server-name", "TXHISTORY_TLS_SERVER_NAME", "", "name to verify the participant's certificates against, the admin API's too (default: the host of -ledger, of -admin)")
	str(&c.adminTLSCert, "admin-tls-cert", "TXHISTORY_ADMIN_TLS_CERT", "", "client certificate for the admin API (default: -tls-cert)")
	str(&c.adminTLSKey, "admin-tls-key", "TXHISTORY_ADMIN_TLS_KEY", "", "key of -admin-tls-cert (default: -tls-key)")
	str(&c.tokenFile, "token-file", "TXHISTORY_TOKEN_FILE", "", "file holding a bearer token, read again before every call (else $"+conn.EnvToken+")")
	str(&c.oauthTokenURL, "oauth-token-url", "TXHISTORY_OAUTH_TOKEN_URL", "", "OAuth2 token endpoint for the client-credentials grant")
	str(&c.oauthClientID, "oauth-client-id", "TXHISTORY_OAUTH_CLIENT_ID", "", "OAuth2 client id")
	secretFile := ""
	str(&secretFile, "oauth-client-secret-file", "TXHISTORY_OAUTH_CLIENT_SECRET_FILE", "", "file holding the OAuth2 client secret, read at start only: restart after rotating it (else $"+conn.EnvClientSecret+")")
	str(&c.oauthAudience, "oauth-audience", "TXHISTORY_OAUTH_AUDIENCE", "", "OAuth2 audience parameter, e.g. https://daml.com/jwt/aud/participant/<id>")
	str(&c.oauthScopes, "oauth-scopes", "TXHISTORY_OAUTH_SCOPES", "", "OAuth2 scopes, space-separated, e.g. daml_ledger_api")
	fs.BoolVar(&c.oauthPlainTokenURL, "oauth-plaintext-token-url", envBool("oauth-plaintext-token-url", "TXHISTORY_OAUTH_PLAINTEXT_TOKEN_URL", false),
		"allow an http:// -oauth-token-url to a host that is not loopback: the client secret crosses the network unencrypted, for a trusted link only ($TXHISTORY_OAUTH_PLAINTEXT_TOKEN_URL)")
	metricsAddr := defaultMetricsAddr
	if v, ok := lookupEnv("TXHISTORY_METRICS_ADDR"); ok {
		metricsAddr = v // empty: none
	}
	fs.StringVar(&c.metricsAddr, "metrics-addr", metricsAddr, "address of /metrics and /healthz; empty: none ($TXHISTORY_METRICS_ADDR, empty too)")
	fs.DurationVar(&c.progress, "progress", envDur("progress", "TXHISTORY_PROGRESS", 10*time.Second), "interval of progress log lines ($TXHISTORY_PROGRESS)")
	fs.DurationVar(&c.maxSilence, "max-silence", envDur("max-silence", "TXHISTORY_MAX_SILENCE", 5*time.Minute), "/healthz fails after this long without a commit while behind ($TXHISTORY_MAX_SILENCE)")
	str(&c.logLevel, "log-level", "TXHISTORY_LOG_LEVEL", "info", "debug, info, warn or error (debug logs every transaction)")
	str(&c.lock, "lock", "TXHISTORY_LOCK", "wait", "if another ingester runs on the schema: wait or fail")
	str(&c.poison, "poison", "TXHISTORY_POISON", "halt", "a transaction that cannot be ingested: halt, or set-aside into the review table")
	fs.DurationVar(&c.stallTimeout, "stall-timeout", envDur("stall-timeout", "TXHISTORY_STALL_TIMEOUT", 0), "reconnect a stream silent for this long; 0: never ($TXHISTORY_STALL_TIMEOUT)")
	fs.Int64Var(&c.startOffset, "start-offset", envInt("start-offset", "TXHISTORY_START_OFFSET", 0), "where to begin (exclusive) when the database has no checkpoint yet ($TXHISTORY_START_OFFSET)")
	fs.BoolVar(&c.acceptPartiesChange, "accept-parties-change", envBool("accept-parties-change", "TXHISTORY_ACCEPT_PARTIES_CHANGE", false),
		"go on with a -party other than the one the schema was ingested for, recording it: the new party's transactions before the checkpoint are never ingested; default: refuse ($TXHISTORY_ACCEPT_PARTIES_CHANGE)")
	maxBatch := int64(0)
	fs.Int64Var(&maxBatch, "max-batch", envInt("max-batch", "TXHISTORY_MAX_BATCH", ingest.MaxBatchSizeDefault), "most transactions per SQL transaction ($TXHISTORY_MAX_BATCH)")
	streamBuffer := int64(0)
	fs.Int64Var(&streamBuffer, "stream-buffer", envInt("stream-buffer", "TXHISTORY_STREAM_BUFFER", ingest.StreamBufferDefault),
		"decoded updates that may wait for the database; raise it with -max-batch, a batch takes what it holds ($TXHISTORY_STREAM_BUFFER)")
	receiveWindow := int64(0)
	fs.Int64Var(&receiveWindow, "receive-window", envInt("receive-window", "TXHISTORY_RECEIVE_WINDOW", ledger.DefaultReceiveWindow),
		"bytes of the stream the participant may send ahead of what was read; raise it for a participant far away, -1: gRPC's dynamic window ($TXHISTORY_RECEIVE_WINDOW)")
	maxRecvMsgSize := int64(0)
	fs.Int64Var(&maxRecvMsgSize, "max-recv-msg-size", envInt("max-recv-msg-size", "TXHISTORY_MAX_RECV_MSG_SIZE", ledger.DefaultMaxRecvMsgSize),
		"largest message taken from the participant, in bytes: a transaction over it stops ingestion; raise it above the largest transaction the treasury gets ($TXHISTORY_MAX_RECV_MSG_SIZE)")
	fs.BoolVar(&c.migrate, "migrate", envBool("migrate", "TXHISTORY_MIGRATE", true), "apply schema migrations at start (needs a role that may create tables; pods starting at once under a lock_timeout wait for each other's and may exit 1 with 55P03: run -migrate-only as a job first) ($TXHISTORY_MIGRATE)")
	fs.BoolVar(&c.migrateOnly, "migrate-only", false, "apply schema migrations to -schema and exit (once per schema of the database)")
	fs.IntVar(&c.migrateTo, "migrate-to", -1, "with -migrate-only: migrate to exactly this version, undoing later ones (to roll back to an older release, losing what the undone migrations recorded: docs/OPERATIONS.md; 0 drops every table but txhistory_migration); -1: this build's latest")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", envDur("shutdown-timeout", "TXHISTORY_SHUTDOWN_TIMEOUT", 30*time.Second), "after SIGTERM, how long to wait for the last commit ($TXHISTORY_SHUTDOWN_TIMEOUT)")
	fs.BoolVar(&c.demo, "demo", false, "run against an in-process fake participant that keeps appending, and a local PostgreSQL of its own; the host's database, party, participant, credentials, start offset, synchronizers, instruments and -migrate=false are not used, nor $TXHISTORY_METRICS_ADDR (only -metrics-addr on the command line is)")
	demoRate := int64(0)
	fs.Int64Var(&demoRate, "demo-rate", 200, "with -demo: transactions appended per second")
	demoBacklog := int64(0)
	fs.Int64Var(&demoBacklog, "demo-backlog", 5000, "with -demo: transactions on the ledger before the daemon starts")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	given := map[string]bool{} // on the command line
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true; delete(malformed, f.Name) })
	for _, name := range []string{"demo-rate", "demo-backlog"} {
		if given[name] && !c.demo {
			c.demoFlagsAlone = append(c.demoFlagsAlone, name)
		}
	}
	if c.demo {
		// The host's settings the demo does not use: a malformed one does
		// not stop it.
		for _, name := range []string{"plaintext", "start-offset", "migrate"} {
			delete(malformed, name)
		}
	}
	if len(malformed) > 0 {
		errs := make([]error, 0, len(malformed))
		for _, name := range slices.Sorted(maps.Keys(malformed)) {
			errs = append(errs, malformed[name])
		}
		return nil, errors.Join(errs...)
	}
	for _, id := range strings.Split(synchronizers, ",") {
		if id = strings.TrimSpace(id); id != "" {
			c.synchronizers = append(c.synchronizers, id)
		}
	}
	var instrumentsErr error
	c.instruments, instrumentsErr = parseInstruments(instruments)
	if instrumentsErr != nil && !c.demo {
		return nil, instrumentsErr
	}
	c.maxBatch, c.streamBuffer, c.demoRate, c.demoBacklog = int(maxBatch), int(streamBuffer), int(demoRate), int(demoBacklog)
	c.receiveWindow, c.maxRecvMsgSize = int(receiveWindow), int(maxRecvMsgSize)

	if c.demo {
		// The host's secrets are not read: the demo does not use them (and
		// its user may not be allowed to read them).
		c.demoIgnored = c.dropHostSettings(map[string]bool{
			"database":             getenv(conn.EnvDSN) != "" || dsnFile != "",
			"OAuth2 client secret": getenv(conn.EnvClientSecret) != "" || secretFile != "",
			"token":                getenv(conn.EnvToken) != "",
		}, given["metrics-addr"])
		return c, c.validate()
	}
	var err error
	if c.dsn, err = conn.Secret(getenv(conn.EnvDSN), dsnFile, "the PostgreSQL connection string"); err != nil {
		return nil, err
	}
	if c.migrateOnly {
		// The migration job needs nothing but the DSN: the participant's
		// secrets, which it may not be allowed to read, are not read.
		return c, c.validate()
	}
	if c.oauthClientSecret, err = conn.Secret(getenv(conn.EnvClientSecret), secretFile, "the OAuth2 client secret"); err != nil {
		return nil, err
	}
	c.token = getenv(conn.EnvToken)
	return c, c.validate()
}

// parseInstruments reads -instruments: a comma-separated list of
// instruments, each id@admin (as tokenstd.Instrument.String renders it;
// the admin is after the last @). Empty entries are skipped.
func parseInstruments(s string) ([]tokenstd.Instrument, error) {
	var out []tokenstd.Instrument
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		var inst tokenstd.Instrument
		if i := strings.LastIndexByte(item, '@'); i >= 0 {
			inst = tokenstd.Instrument{ID: strings.TrimSpace(item[:i]), Admin: strings.TrimSpace(item[i+1:])}
		}
		if inst.ID == "" || !isPartyID(inst.Admin) {
			return nil, fmt.Errorf("-instruments (or $TXHISTORY_INSTRUMENTS): %q: want id@admin, neither empty, the admin a party id (name::namespace), e.g. Amulet@DSO::1220…", item)
		}
		out = append(out, inst)
	}
	return out, nil
}

// isPartyID says whether s has the form of a Canton party id, name::namespace
// with neither part empty nor holding white space. It is no proof the party
// exists: it catches an entry an @ or a typo has cut in the wrong place.
func isPartyID(s string) bool {
	name, namespace, ok := strings.Cut(s, "::")
	return ok && name != "" && namespace != "" && !strings.ContainsFunc(s, unicode.IsSpace)
}

// defaultMetricsAddr is where /metrics and /healthz are served unless
// -metrics-addr or TXHISTORY_METRICS_ADDR says otherwise.
const defaultMetricsAddr = "127.0.0.1:9464"

// demoMetricsAddr is where the demo serves /metrics and /healthz unless
// -metrics-addr is given on the command line: a free loopback port (the
// "started" line names it), never the address a host's monitoring watches.
const demoMetricsAddr = "127.0.0.1:0"

// dropHostSettings clears what a host's configuration (production's,
// perhaps) sets that the demo, with a participant and a PostgreSQL of its
// own, must not use: where to connect and how to authenticate, where to
// start, whether to migrate, where its monitoring looks (unless
// -metrics-addr is on the command line, metricsGiven). secrets says which
// secrets the host configured (they are not read). It returns the names
// of those that were set.
func (c *config) dropHostSettings(secrets map[string]bool, metricsGiven bool) []string {
	var dropped []string
	for _, name := range []string{"database", "token", "OAuth2 client secret"} {
		if secrets[name] {
			dropped = append(dropped, name)
		}
	}
	c.dsn, c.token, c.oauthClientSecret = "", "", ""
	clear := func(name string, p *string) {
		if *p != "" {
			dropped = append(dropped, name)
			*p = ""
		}
	}
	clear("party", &c.party)
	clear("-ledger", &c.ledger)
	clear("-admin", &c.admin)
	clear("-tls-ca", &c.tlsCA)
	clear("-tls-cert", &c.tlsCert)
	clear("-tls-key", &c.tlsKey)
	clear("-tls-server-name", &c.tlsServerName)
	clear("-admin-tls-cert", &c.adminTLSCert)
	clear("-admin-tls-key", &c.adminTLSKey)
	clear("-token-file", &c.tokenFile)
	clear("-oauth-token-url", &c.oauthTokenURL)
	clear("-oauth-client-id", &c.oauthClientID)
	clear("-oauth-audience", &c.oauthAudience)
	clear("-oauth-scopes", &c.oauthScopes)
	if c.startOffset != 0 {
		dropped, c.startOffset = append(dropped, "-start-offset"), 0
	}
	if !c.migrate {
		dropped, c.migrate = append(dropped, "-migrate=false"), true
	}
	if len(c.synchronizers) > 0 {
		dropped, c.synchronizers = append(dropped, "-synchronizers"), nil
	}
	if len(c.instruments) > 0 {
		dropped, c.instruments = append(dropped, "-instruments"), nil
	}
	if !metricsGiven {
		if c.metricsAddr != defaultMetricsAddr {
			dropped = append(dropped, "-metrics-addr")
		}
		c.metricsAddr = demoMetricsAddr
	}
	return dropped
}

func (c *config) validate() error {
	var errs []error
	switch {
	case c.demo && c.migrateOnly:
		errs = append(errs, errors.New("-migrate-only and -demo exclude each other"))
	case c.migrateOnly:
		// Only the database: the migration job needs no participant.
		if c.dsn == "" {
			errs = append(errs, fmt.Errorf("-migrate-only: $%s (or -dsn-file) is required", conn.EnvDSN))
		}
		if c.migrateTo < -1 || c.migrateTo > schema.Latest() {
			errs = append(errs, fmt.Errorf("-migrate-to %d: want a version from 0 to %d (this build's latest), or -1 for the latest", c.migrateTo, schema.Latest()))
		}
	case !c.demo:
		if c.ledger == "" {
			errs = append(errs, fmt.Errorf("-ledger (or $%s) is required", conn.EnvLedger))
		}
		if c.dsn == "" {
			errs = append(errs, fmt.Errorf("$%s (or -dsn-file) is required", conn.EnvDSN))
		}
		if c.party == "" {
			errs = append(errs, fmt.Errorf("-party (or $%s) is required", conn.EnvParty))
		}
	}
	if !c.demo && !c.migrateOnly {
		for _, e := range []struct{ flag, target string }{{"-ledger", c.ledger}, {"-admin", c.admin}} {
			if err := conn.CheckTarget(e.flag, e.target); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if c.dsn != "" && !c.demo {
		if _, err := pq.NewConnector(c.dsn); err != nil {
			if err := exampledb.EnvRefusal(); err != nil {
				errs = append(errs, err)
			} else {
				// lib/pq's message may quote a piece of the password.
				errs = append(errs, fmt.Errorf("$%s (or -dsn-file) is not a PostgreSQL connection string that lib/pq accepts (its message is withheld: it may quote the password)", conn.EnvDSN))
			}
		}
	}
	if c.startOffset < 0 {
		errs = append(errs, fmt.Errorf("-start-offset %d: must not be negative", c.startOffset))
	}
	if c.maxBatch <= 0 {
		errs = append(errs, fmt.Errorf("-max-batch %d: must be positive", c.maxBatch))
	}
	if c.streamBuffer <= 0 {
		errs = append(errs, fmt.Errorf("-stream-buffer %d: must be positive", c.streamBuffer))
	}
	if c.maxRecvMsgSize <= 0 || int64(c.maxRecvMsgSize) > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("-max-recv-msg-size %d: must be positive, at most %d bytes", c.maxRecvMsgSize, math.MaxInt32))
	}
	if c.receiveWindow < -1 || c.receiveWindow > 0 && (c.receiveWindow < ledger.MinReceiveWindow || int64(c.receiveWindow) > math.MaxInt32) {
		errs = append(errs, fmt.Errorf("-receive-window %d: want %d to %d bytes, 0 for the default or -1 for gRPC's dynamic window", c.receiveWindow, ledger.MinReceiveWindow, math.MaxInt32))
	}
	if !c.demo && !c.migrateOnly && (c.tlsCert == "") == (c.tlsKey == "") && (c.adminTLSCert == "") == (c.adminTLSKey == "") {
		// The files are read now, so that a bad one is a configuration
		// error before anything is dialled.
		if _, err := c.tlsConfig(c.tlsCert, c.tlsKey); err != nil {
			errs = append(errs, err)
		}
		if c.adminTLSCert != "" {
			if _, err := c.tlsConfig(c.adminTLSCert, c.adminTLSKey); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if !c.demo && !c.migrateOnly && c.ledger == "" && c.dsn == "" && c.party == "" {
		// Nothing configured (a deployment whose environment did not
		// arrive): refused, never the demo, whose /healthz would say all
		// is well while no deposit is recorded.
		errs = append(errs, errors.New("nothing is configured; to try ingestd against an in-process fake participant and a local PostgreSQL, run it with -demo"))
	}
	if err := schema.ValidateName(c.schema); err != nil {
		errs = append(errs, fmt.Errorf("-schema (or $%s): %w", conn.EnvSchema, err))
	}
	if c.stallTimeout < 0 {
		errs = append(errs, fmt.Errorf("-stall-timeout must not be negative (got %v; 0: never)", c.stallTimeout))
	}
	if c.demo && c.demoRate < 0 {
		errs = append(errs, fmt.Errorf("-demo-rate must not be negative (got %d)", c.demoRate))
	}
	if c.demo && c.demoBacklog < 0 {
		errs = append(errs, fmt.Errorf("-demo-backlog must not be negative (got %d)", c.demoBacklog))
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		errs = append(errs, errors.New("-tls-cert and -tls-key go together"))
	}
	if (c.adminTLSCert == "") != (c.adminTLSKey == "") {
		errs = append(errs, errors.New("-admin-tls-cert and -admin-tls-key go together"))
	}
	if err := conn.CheckPlaintext(c.plaintext, c.tlsCA, c.tlsCert, c.tlsServerName, c.adminTLSCert); err != nil {
		errs = append(errs, err)
	}
	if c.oauthTokenURL != "" && !c.migrateOnly {
		if c.oauthClientID == "" {
			errs = append(errs, errors.New("-oauth-token-url needs -oauth-client-id"))
		}
		if c.oauthClientSecret == "" {
			errs = append(errs, fmt.Errorf("-oauth-token-url needs the client secret in $%s or -oauth-client-secret-file", conn.EnvClientSecret))
		}
		if c.token != "" || c.tokenFile != "" {
			errs = append(errs, errors.New("choose OAuth2 or a static token, not both"))
		}
		if err := conn.CheckTokenURL(c.oauthTokenURL, c.oauthPlainTokenURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.oauthPlainTokenURL && c.oauthTokenURL == "" {
		errs = append(errs, errors.New("-oauth-plaintext-token-url needs -oauth-token-url"))
	}
	if c.lock != "wait" && c.lock != "fail" {
		errs = append(errs, fmt.Errorf("-lock %q: want wait or fail", c.lock))
	}
	if c.poison != "halt" && c.poison != "set-aside" {
		errs = append(errs, fmt.Errorf("-poison %q: want halt or set-aside", c.poison))
	}
	if c.migrateTo != -1 && !c.migrateOnly {
		errs = append(errs, errors.New("-migrate-to needs -migrate-only"))
	}
	for _, name := range c.demoFlagsAlone {
		errs = append(errs, fmt.Errorf("-%s needs -demo", name))
	}
	if c.progress <= 0 {
		errs = append(errs, errors.New("-progress must be positive"))
	}
	if c.metricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.metricsAddr); err != nil || !validPort(port) {
			errs = append(errs, fmt.Errorf("-metrics-addr %q (or $TXHISTORY_METRICS_ADDR): want host:port or :port, empty for none", c.metricsAddr))
		}
	}
	if c.shutdownTimeout <= 0 {
		// A timer already expired: every shutdown would be aborted.
		errs = append(errs, fmt.Errorf("-shutdown-timeout must be positive (got %v)", c.shutdownTimeout))
	}
	if c.maxSilence <= 0 {
		// metrics would take 0 for its default (5m): not what was asked.
		errs = append(errs, fmt.Errorf("-max-silence must be positive (got %v)", c.maxSilence))
	}
	return errors.Join(errs...)
}

// tlsConfig builds the TLS configuration of an endpoint; nil with -plaintext.
func (c *config) tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	if c.plaintext {
		return nil, nil
	}
	return conn.TLS(c.tlsCA, certFile, keyFile, c.tlsServerName)
}

// validPort reports whether port is a TCP port number, 0 to 65535 (0: one
// the system picks, for tests).
func validPort(port string) bool {
	_, err := strconv.ParseUint(port, 10, 16)
	return err == nil
}
