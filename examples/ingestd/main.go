// Command ingestd is an ingestion daemon an exchange can run: it streams the
// treasury party's updates from a Canton participant into the Integration
// DB with txhistory's ingest package, and exposes Prometheus metrics and a
// health check.
//
// Configuration comes from flags and the environment (a flag on the command
// line wins). Secrets come only from the environment or files:
//
//	export TXHISTORY_LEDGER=validator:5001
//	export TXHISTORY_PARTY='treasury::1220...'
//	export TXHISTORY_DSN='postgres://txhistory_ingest:...@db/integration'
//	export TXHISTORY_OAUTH_CLIENT_SECRET=...
//	ingestd -tls-ca ca.pem -tls-cert client.pem -tls-key client-key.pem \
//		-oauth-token-url https://idp/oauth/token -oauth-client-id ingester \
//		-oauth-audience https://daml.com/jwt/aud/participant/p1 -metrics-addr :9464 \
//		-migrate=false # txhistory_ingest has no DDL rights: the migration job runs as the owner (docs/OPERATIONS.md)
//
// With -demo it starts an in-process fake participant that keeps appending
// transactions and a local PostgreSQL from the installed server binaries,
// and ingests from them (with nothing configured and no -demo, it refuses
// to start: a deployment whose environment did not arrive must not look
// healthy):
//
//	go run ./examples/ingestd -demo -log-level debug -progress 2s
//
// Logs are JSON (log/slog) on stderr and carry the offset and update id; a
// progress line every -progress ("catching up" or "tailing"; "retrying"
// at WARN while a fault is retried) gives the offset, the ledger end lag
// and the rate. /metrics and /healthz are served on
// -metrics-addr (package metrics). SIGTERM or SIGINT stops it gracefully:
// the batch in hand is committed (no progress line after "stopping") and it
// exits 0; a second signal, or
// -shutdown-timeout, aborts. Exit status 1 is a fatal ingestion error (or
// an aborted shutdown, or -migrate-only stopped before its migrations
// completed), 2 a configuration error. See docs/OPERATIONS.md.
package main

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/examples/internal/exampledb"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/logattr"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/metrics"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stderr, sigs, nil))
}

// run is the whole daemon; it returns the exit status. ready, if not nil,
// receives the metrics address once ingestion has started (for tests).
func run(args []string, lookupEnv func(string) (string, bool), logOut io.Writer, sigs <-chan os.Signal, ready chan<- string) int {
	cfg, err := parseConfig(args, lookupEnv, logOut)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(logOut, "ingestd:", ingest.Redact(err.Error()))
		return 2
	}
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		fmt.Fprintln(logOut, "ingestd: -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))
	d := &daemon{cfg: cfg, log: log, ready: ready}
	if err := d.run(sigs); err != nil {
		log.Error("ingestd: stopped by an error", "err", ingest.Redact(cfg.explain(err).Error()))
		return 1
	}
	return 0
}

// explain adds to err, the error the daemon stops with, which credential
// to renew when one was refused. The participant's message does not say
// (Canton's: "An error occurred. Please contact the operator …"), and the
// secrets read at start are not read again: a supervisor restarting the
// daemon before the credential is renewed meets the same refusal.
func (c *config) explain(err error) error {
	var pqe *pq.Error
	if errors.As(err, &pqe) && pqe.Code == "28P01" { // invalid_password
		return fmt.Errorf("%w; PostgreSQL refused the DSN's password: the DSN ($%s or -dsn-file) is read only at start: after a password rotation, update it there and restart", err, conn.EnvDSN)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" && !ingest.IsTransientDBError(err) { // a TLS alert of PostgreSQL's
		if a := oe.Err.Error(); strings.Contains(a, "handshake failure") || strings.Contains(a, "protocol version") || strings.Contains(a, "insufficient security") {
			// Not the certificate's validity: what the two sides take.
			return fmt.Errorf("%w; PostgreSQL refused the TLS handshake: its TLS settings (ssl_min_protocol_version, ssl_ciphers, ssl_ecdh_curve) allow no version, cipher or key exchange ingestd takes, or it does not take the key of the client certificate the DSN names (sslcert and sslkey, in $%s or -dsn-file): make them agree and restart", err, conn.EnvDSN)
		}
		return fmt.Errorf("%w; PostgreSQL refused the TLS handshake: the client certificate the DSN names (its sslcert and sslkey, in $%s or -dsn-file) expired, was revoked or is not of a CA the server trusts: renew it and restart", err, conn.EnvDSN)
	}
	if errors.Is(err, ledger.ErrMessageRejected) && strings.Contains(err.Error(), "larger than the client takes") {
		return fmt.Errorf("%w; ingestd takes at most %d bytes: raise -max-recv-msg-size ($TXHISTORY_MAX_RECV_MSG_SIZE) above the message's size and restart", err, c.maxRecvMsgSize)
	}
	if errors.Is(err, ingest.ErrPartiesChanged) {
		return fmt.Errorf("%w; ingestd goes on knowingly with -accept-parties-change ($TXHISTORY_ACCEPT_PARTIES_CHANGE)", err)
	}
	if errors.Is(err, ledger.ErrPermissionDenied) {
		// A token accepted, for a user without the rights the call needs.
		return fmt.Errorf("%w; the participant refused the rights of the user of %s: it needs CanReadAs the treasury party %s (-party): grant it, or configure a token of a user that has it, and restart", err, c.tokenSetting(), c.party)
	}
	if !errors.Is(err, ledger.ErrUnauthenticated) {
		if c.poison == "halt" && !errors.Is(err, ingest.ErrDeploymentFault) &&
			(errors.Is(err, ingest.ErrHandlerRejected) || errors.As(err, new(*ledger.DecodeError))) {
			// The error names the transaction and what is wrong with
			// it, not what to do; the Runbook pointers say which faults
			// are the deployment's or the participant's to fix, and
			// which transactions to set aside.
			return fmt.Errorf("%w; ingestd halts on a transaction it cannot ingest (-poison halt): fix what the error names and restart (ingestion resumes at the checkpoint), or, for a transaction malformed as it stands, restart with -poison set-aside ($TXHISTORY_POISON) to record it for review and go on: docs/OPERATIONS.md, Runbook pointers, says which", err)
		}
		return err
	}
	switch {
	case c.oauthTokenURL != "":
		// The token endpoint's refusal of the client, or of the token URL
		// (ledger.TokenEndpointError.Rejected), reaches the call as
		// UNAUTHENTICATED with its message.
		switch conn.TokenEndpointRefusal(err) {
		case conn.NotTheEndpoint:
			if strings.Contains(err.Error(), "the access token cannot be sent") {
				return err
			}
			// The participant refused the token the endpoint issued.
			return fmt.Errorf("%w; the participant refused the token OAuth2 client %s got from -oauth-token-url: its audience (-oauth-audience) or scopes (-oauth-scopes) are not what the participant takes, or the participant does not trust the identity provider: once they agree, restart", err, c.oauthClientID)
		case conn.EndpointURL:
			return fmt.Errorf("%w; the identity provider does not serve its token endpoint at -oauth-token-url ($TXHISTORY_OAUTH_TOKEN_URL; a wrong path?): set the provider's token URL and restart", err)
		case conn.EndpointClient:
			return fmt.Errorf("%w; the token endpoint refused client %s (its secret, or the audience or scopes asked for): the client secret ($%s or -oauth-client-secret-file) is read only at start: once they agree with the identity provider, restart", err, c.oauthClientID, conn.EnvClientSecret)
		}
		return err
	case c.tokenFile != "":
		return fmt.Errorf("%w; the participant refused the token in -token-file %s (expired, and not renewed in the file?): once the file holds a valid token, restart", err, c.tokenFile)
	case c.token != "":
		return fmt.Errorf("%w; the participant refused the token of $%s (expired?), which is never renewed: set a valid one and restart, or use -token-file with a process that renews it, or OAuth2 (-oauth-token-url)", err, conn.EnvToken)
	}
	return fmt.Errorf("%w; the participant asks for a token and none is configured: use OAuth2 (-oauth-token-url), -token-file or $%s", err, conn.EnvToken)
}

// remotePlaintextTarget returns the participant endpoint (-ledger, else
// -admin) that a bearer token would reach unencrypted across the network
// (-plaintext, a token configured, a host not on the loopback), or "".
func (c *config) remotePlaintextTarget() string {
	if !c.plaintext || (c.oauthTokenURL == "" && c.tokenFile == "" && c.token == "") {
		return ""
	}
	for _, t := range []string{c.ledger, c.admin} {
		if t != "" && conn.RemoteTarget(t) {
			return t
		}
	}
	return ""
}

// tokenSetting names the setting the daemon's bearer token comes from.
func (c *config) tokenSetting() string {
	switch {
	case c.oauthTokenURL != "":
		return "the token OAuth2 client " + c.oauthClientID + " gets from -oauth-token-url"
	case c.tokenFile != "":
		return "the token in -token-file " + c.tokenFile
	case c.token != "":
		return "the token of $" + conn.EnvToken
	}
	return "no token (none is configured: -oauth-token-url, -token-file or $" + conn.EnvToken + ")"
}

type daemon struct {
	cfg   *config
	log   *slog.Logger
	ready chan<- string

	mu     sync.Mutex
	runErr error // set once Run returned with an error

	progressed bool  // a progress line was logged (their loop only)
	lastOffset int64 // the checkpoint offset at the previous progress line

	started time.Time // when /healthz began counting (the daemon's start)

	pinging atomic.Bool // a pingDatabase's ping is in flight
}

func (d *daemon) run(sigs <-chan os.Signal) error {
	cfg, log := d.cfg, d.log
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Until ingestion starts, a signal cancels what is under way (the
	// demo's start, migrations waiting for the database): the daemon
	// stops there, as a stop, not an error.
	var signalled os.Signal
	started, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case sig := <-sigs:
			signalled = sig
			cancel()
		case <-started:
		}
	}()
	var once sync.Once
	stopWatching := func() os.Signal {
		once.Do(func() { close(started); <-watched })
		return signalled
	}
	startup := func(err error) error {
		if stopWatching() != nil {
			log.Info("ingestd: stopped before ingestion started", "signal", signalled.String())
			return nil
		}
		return err
	}

	if cfg.demo {
		stopDemo, err := startDemo(ctx, cfg, log)
		if err != nil {
			return startup(err)
		}
		defer stopDemo()
	}
	if target := cfg.remotePlaintextTarget(); target != "" {
		log.Warn("ingestd: -plaintext to a participant that is not on this machine's loopback: its bearer token crosses the network unencrypted; use TLS (-tls-ca) unless the link is trusted", "target", ingest.Redact(target))
	}

	db, err := exampledb.Pool(cfg.dsn, "txhistory-ingestd")
	if err != nil {
		return startup(fmt.Errorf("open database: %w", err))
	}
	defer db.Close()
	if cfg.migrateOnly {
		// The migration job: stopped before the migrations completed, it
		// fails, so that what runs after it (a deploy, an init container)
		// does not go on with an unmigrated schema.
		err := d.migrate(ctx, db)
		if sig := stopWatching(); err != nil && sig != nil {
			return fmt.Errorf("-migrate-only: stopped by %s before the migrations completed", sig)
		}
		if err != nil {
			return err
		}
		// The migrations are done: a signal from here on, or a failed read
		// of the version, does not make the job fail.
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		v, err := schema.CheckVersion(vctx, db, schema.WithSchema(cfg.schema))
		if err != nil {
			log.Warn("ingestd: migrations done; reading the version back failed", "schema", cfg.schema, "err", ingest.Redact(err.Error()))
			return nil
		}
		log.Info("ingestd: migrations done", "schema", cfg.schema, "version", v)
		return nil
	}
	// /healthz and /metrics answer from here on, while the daemon waits
	// for the database and the participant: a liveness probe sees it
	// starting (200 for the first -max-silence), not a refused connection.
	metricsAddr, gate, stopMetrics, err := d.serveMetrics()
	if err != nil {
		return startup(err)
	}
	defer stopMetrics()
	d.started = gate.start
	if cfg.migrate {
		gate.setPhase("waiting for the database (migrations)")
		if err := d.migrate(ctx, db); err != nil {
			return startup(err)
		}
	} else {
		gate.setPhase("waiting for the database (the schema version check)")
		if err := d.checkSchema(ctx, db); err != nil {
			return startup(err)
		}
	}

	gate.setPhase("connecting to the participant")
	client, err := d.dial(ctx)
	if err != nil {
		return startup(err)
	}
	defer client.Close()

	if len(cfg.instruments) == 0 && !cfg.demo {
		// The demo drops the host's -instruments, and has no token
		// standard data to book.
		log.Warn("ingestd: -instruments is empty: every instrument's holdings and transfers are booked, and anyone who creates an instrument can halt ingestion with malformed data of it; list the instruments the exchange supports")
	}
	handler, err := newHandler(db, cfg.party, cfg.schema, cfg.synchronizers, cfg.instruments, log)
	if err != nil {
		return startup(err)
	}
	hist := metrics.NewLatencyHistogram()
	icfg := ingest.Config{
		Parties:             []string{cfg.party},
		Schema:              cfg.schema,
		Handler:             handler,
		StartOffset:         cfg.startOffset,
		AcceptPartiesChange: cfg.acceptPartiesChange,
		MaxBatchSize:        cfg.maxBatch,
		StreamBuffer:        cfg.streamBuffer,
		StallTimeout:        cfg.stallTimeout,
		Logger:              log,
		OnCommit: func(s ingest.Stats) {
			hist.Observe(s)
			log.Debug("ingestd: batch committed", logattr.Known("offset", s.Offset, "update_id", s.UpdateID,
				"record_time", s.RecordTime, "latency", s.LastBatchLatency)...)
		},
	}
	if cfg.lock == "fail" {
		icfg.Lock = ingest.LockFail
	}
	if cfg.poison == "set-aside" {
		icfg.Poison = ingest.PoisonSetAside
	}
	ing, err := ingest.New(db, client, icfg)
	if err != nil {
		return startup(err)
	}

	gate.serve(d.metricsHandler(ing, hist, gate.start))
	if err := startup(nil); err != nil || signalled != nil {
		return err
	}

	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	log.Info("ingestd: started", "party", cfg.party, "schema", cfg.schema, "ledger", ingest.Redact(cfg.ledger),
		"tls", tlsMode(cfg), "auth", authMode(cfg), "dsn", ingest.Redact(cfg.dsn), "metrics", metricsAddr)
	if d.ready != nil {
		d.ready <- metricsAddr
	}

	progress := time.NewTicker(cfg.progress)
	defer progress.Stop()
	// Nil once stopping: the next line is "stopped" (or why not), not one
	// that says the daemon is still ingesting.
	progressC := progress.C
	var shutdown <-chan time.Time
	aborted := "" // why the context was cancelled during the shutdown
	for {
		select {
		case err := <-done:
			if err != nil {
				d.mu.Lock()
				d.runErr = err
				d.mu.Unlock()
				if aborted != "" && ctx.Err() != nil {
					return fmt.Errorf("%s: %w", aborted, err)
				}
				return err
			}
			s := ing.Stats()
			log.Info("ingestd: stopped", logattr.Known("offset", s.Offset, "update_id", s.UpdateID, "transactions", s.Transactions)...)
			return nil
		case sig := <-sigs:
			if shutdown != nil {
				log.Warn("ingestd: second signal, aborting without waiting for the batch", "signal", sig.String())
				aborted = "shutdown aborted by a second signal (" + sig.String() + ")"
				cancel()
				continue
			}
			log.Info("ingestd: stopping: committing what was received", "signal", sig.String())
			ing.Stop()
			shutdown = time.After(cfg.shutdownTimeout)
			progressC = nil
		case <-shutdown:
			log.Warn("ingestd: shutdown timeout, aborting", "timeout", cfg.shutdownTimeout)
			aborted = fmt.Sprintf("shutdown did not finish within %s", cfg.shutdownTimeout)
			cancel()
		case <-progressC:
			d.logProgress(ctx, ing)
		}
	}
}

// newHandler returns the batch handler: the token standard history, then
// the withdrawal reconciler (which reads the history entries written in the
// same SQL transaction), then a debug log line per transaction. An exchange
// embedding txhistory plugs its deposit crediter (tokenstd.Config.Credit)
// and its refunder (withdrawal.Config.Refunder) in here; without a
// refunder, expired withdrawals are released and logged but credit no one.
func newHandler(db *sqlx.DB, party, schemaName string, synchronizers []string, instruments []tokenstd.Instrument, log *slog.Logger) (ingest.Handler, error) {
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: party, Schema: schemaName, Logger: log, Instruments: instruments})
	if err != nil {
		return nil, err
	}
	store, err := withdrawal.NewStore(db, withdrawal.Config{Schema: schemaName, Treasury: party, Synchronizers: synchronizers, Instruments: instruments, Logger: log})
	if err != nil {
		return nil, err
	}
	reconciler, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{Logger: log, History: history})
	if err != nil {
		return nil, err
	}
	return ingest.Handlers(history, reconciler, logTransactions(log)), nil
}

// logTransactions logs every new transaction with its offset and update id.
func logTransactions(log *slog.Logger) ingest.Handler {
	return ingest.HandlerFunc(func(ctx context.Context, _ *sqlx.Tx, b *ingest.Batch) error {
		if !log.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		for _, t := range b.Transactions {
			log.Debug("ingestd: transaction", "offset", t.Offset, "update_id", t.UpdateID,
				"record_time", t.RecordTime, "synchronizer_id", t.SynchronizerID, "events", len(t.Events))
		}
		return nil
	})
}

func (d *daemon) dial(ctx context.Context) (*ledger.Client, error) {
	cfg := d.cfg
	tokens, err := d.tokens(ctx)
	if err != nil {
		return nil, err
	}
	ledgerTLS, err := cfg.tlsConfig(cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return nil, err
	}
	c := ledger.Config{
		LedgerAPI:      ledger.Endpoint{Target: cfg.ledger, TLS: ledgerTLS, Insecure: cfg.plaintext, Tokens: tokens},
		ReceiveWindow:  cfg.receiveWindow,
		MaxRecvMsgSize: cfg.maxRecvMsgSize,
		// gRPC waits up to two minutes between connection attempts by
		// default; after an outage of the participant we want to be back
		// within seconds.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 200 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
		})},
	}
	if cfg.admin != "" {
		cert, key := cfg.tlsCert, cfg.tlsKey
		if cfg.adminTLSCert != "" {
			cert, key = cfg.adminTLSCert, cfg.adminTLSKey
		}
		adminTLS, err := cfg.tlsConfig(cert, key)
		if err != nil {
			return nil, err
		}
		c.Admin = ledger.Endpoint{Target: cfg.admin, TLS: adminTLS, Insecure: cfg.plaintext, Tokens: tokens}
	}
	return ledger.Dial(c)
}

func (d *daemon) tokens(ctx context.Context) (ledger.TokenSource, error) {
	cfg := d.cfg
	switch {
	case cfg.oauthTokenURL != "":
		var opts []ledger.CredentialsOption
		if cfg.oauthAudience != "" {
			opts = append(opts, ledger.WithAudience(cfg.oauthAudience))
		}
		if cfg.oauthScopes != "" {
			opts = append(opts, ledger.WithScopes(strings.Fields(cfg.oauthScopes)...))
		}
		if cfg.oauthPlainTokenURL {
			opts = append(opts, ledger.WithPlaintextTokenURL())
		}
		return ledger.ClientCredentials(ctx, cfg.oauthTokenURL, cfg.oauthClientID, cfg.oauthClientSecret, opts...), nil
	case cfg.tokenFile != "":
		return &conn.FileToken{Path: cfg.tokenFile}, nil
	case cfg.token != "":
		return ledger.StaticToken(cfg.token), nil
	}
	return nil, nil
}

// migrate applies the schema migrations, waiting for the database if it is
// not up yet.
func (d *daemon) migrate(ctx context.Context, db *sqlx.DB) error {
	opts := []schema.Option{schema.WithSchema(d.cfg.schema)}
	if d.cfg.migrateOnly && d.cfg.migrateTo >= 0 {
		opts = append(opts, schema.WithTargetVersion(d.cfg.migrateTo))
	}
	// A newer release migrated the schema (a rollback that redeployed
	// this release without migrating down first): the hint names the
	// version to migrate down to, this build's, or -migrate-to's.
	to := schema.Latest()
	if d.cfg.migrateOnly && d.cfg.migrateTo >= 0 {
		to = d.cfg.migrateTo
	}
	return d.waitForDatabase(ctx, "migrations", func() error {
		// The database answers, but the migrations wait for a lock, as
		// long as it is held: say so, or nothing is logged meanwhile.
		stop := d.logWhileWaiting("the migrations", func() string {
			if ctx.Err() != nil {
				// Stopped (a signal), yet the attempt has not returned:
				// a statement sees the stop, a connection's start-up to
				// a host that answers nothing does not. A ping asked now
				// would fail for the stop, not for the database.
				return "stopping (a signal was received), but the migrations' attempt has not returned: it waits for a connection to a database that does not answer, which lib/pq's start-up does not give up for a stop; connect_timeout in the DSN bounds it, or the orchestrator's kill ends it"
			}
			holders, err := d.askDatabase(ctx, func(ctx context.Context) (string, error) {
				if err := db.PingContext(ctx); err != nil {
					return "", err
				}
				// The database answers: who holds the lock, if it can
				// tell (not knowing is no reason to say it does not answer).
				h, _ := migrationLockHolders(ctx, db, d.cfg.schema)
				return h, nil
			})
			if err != nil {
				return "the database does not answer (" + ingest.Redact(err.Error()) + "): without connect_timeout in the DSN, an attempt to a host that drops packets, or takes connections and answers nothing, waits for minutes or for ever"
			}
			const who = "the schema's migration lock, held exclusive by another instance's migrations or the migration job (-migrate-only), or shared by a transaction of the running release that checked the schema's version (an Ingester's batch, a withdrawal Automation's submission, or an exchange's transaction left open after a txhistory write such as withdrawal.Store.CreateTx), or a lock on a table they alter, held by an open transaction that read it (pg_stat_activity, pg_locks); a lock_timeout in the DSN bounds the wait"
			if holders != "" {
				return "the database answers: they wait for a lock: " + who + "; the migration lock is held by " + holders
			}
			return "the database answers: they wait for a lock: " + who
		})
		defer stop()
		if err := schema.Migrate(ctx, db, opts...); err != nil {
			if errors.Is(err, schema.ErrUnknownVersion) {
				return d.newerSchemaError(err, to)
			}
			return fmt.Errorf("migrate schema %s: %w", d.cfg.schema, err)
		}
		return nil
	})
}

// newerSchemaError is err, schema.ErrUnknownVersion, with the command that
// takes the schema down to version to, to run with the newer release.
func (d *daemon) newerSchemaError(err error, to int) error {
	return fmt.Errorf("%w; with that release: %s -migrate-to %d", err, d.migrateOnlyCommand(), to)
}

// checkSchema makes sure, without -migrate, that the schema is at this
// build's version: not unmigrated or behind (the migration job has not run
// yet), nor ahead (a newer release migrated it: its tables are not this
// build's to write). It waits for the database as migrate does.
func (d *daemon) checkSchema(ctx context.Context, db *sqlx.DB) error {
	return d.waitForDatabase(ctx, "the schema version check", func() error {
		// A read no migration holds up (none alters the version table):
		// what holds it is most likely a database that does not answer.
		stop := d.logWhileWaiting("the schema version check", func() string {
			if ctx.Err() != nil {
				return "stopping (a signal was received), but the version check has not returned: it waits for a connection to a database that does not answer, which lib/pq's start-up does not give up for a stop; connect_timeout in the DSN bounds it, or the orchestrator's kill ends it"
			}
			if _, err := d.askDatabase(ctx, func(ctx context.Context) (string, error) { return "", db.PingContext(ctx) }); err != nil {
				return "the database does not answer (" + ingest.Redact(err.Error()) + "): without connect_timeout in the DSN, an attempt to a host that drops packets, or takes connections and answers nothing, waits for minutes or for ever"
			}
			return "the database answers: the check waits for a lock on the schema's migration table (no migration alters it: an operator's LOCK TABLE or DDL; pg_stat_activity, pg_locks), or its session is one opened before to a host that stopped answering (TCP keepalive ends it in minutes)"
		})
		defer stop()
		have, err := schema.CheckVersion(ctx, db, schema.WithSchema(d.cfg.schema))
		want := schema.Latest()
		switch {
		case errors.Is(err, schema.ErrUnknownVersion):
			return d.newerSchemaError(err, want)
		case err != nil:
			return fmt.Errorf("check schema %s: %w", d.cfg.schema, err)
		case have < want:
			return fmt.Errorf("schema %s is at version %03d, this build needs %03d: run %s (as the owner role) first, or start with -migrate", d.cfg.schema, have, want, d.migrateOnlyCommand())
		}
		return nil
	})
}

// migrateOnlyCommand is the migration job's command line for this daemon's
// schema, for hints to paste: without -schema, -migrate-only would migrate
// the default schema. It names no DSN (the job runs as the owner role, with
// its own) and needs no shell quoting: ValidateName admits only lower-case
// letters, digits and underscores.
func (d *daemon) migrateOnlyCommand() string {
	if d.cfg.schema == schema.DefaultName {
		return "ingestd -migrate-only"
	}
	return "ingestd -migrate-only -schema " + d.cfg.schema
}

// startupWaitLogEvery is how often, at most, waitForDatabase logs that the
// database is still not reachable: it tries every second, and a line per
// attempt would be 3,600 identical lines over an hour's outage.
var startupWaitLogEvery = 30 * time.Second

// waitForDatabase runs f until it succeeds or fails for a reason other
// than the database not being reachable yet: it waits for the database as
// ingestion would (SIGTERM stops the wait), however long it takes. It
// tries every second, and logs the first failure, then one line per
// startupWaitLogEvery at most, with the attempts and the time waited so far;
// a failure of a kind not seen before in this wait (the database back, but
// refusing sessions for another reason) is logged at once, so that the
// log does not say for up to startupWaitLogEvery what was just fixed.
func (d *daemon) waitForDatabase(ctx context.Context, what string, f func() error) error {
	began := time.Now()
	every := startupWaitLogEvery
	var logged time.Time
	seen := map[string]bool{}
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !unreachable(err) {
			return err
		}
		// At most 16 kinds logged at once: should they vary without end,
		// the rest wait for the throttle.
		kind := failureKind(err)
		newKind := !seen[kind] && len(seen) < 16
		if attempt == 1 || newKind || time.Since(logged) >= every {
			logged = time.Now()
			if newKind || attempt == 1 {
				seen[kind] = true
			}
			d.log.Warn("ingestd: database not reachable for "+what+", retrying", "attempt", attempt,
				"waiting_s", int64(time.Since(began).Seconds()), "err", ingest.Redact(err.Error()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// failureKind is what kind of failure err is, for waitForDatabase to tell
// a new cause from the same again: the SQLSTATE of the server's refusal,
// the connection closed by the other end, the system call's error
// (connection refused, a timeout), a name the resolver does not know, or
// else the message without its digits
// (ports and addresses that change with every attempt).
func failureKind(err error) string {
	var pqe *pq.Error
	if errors.As(err, &pqe) {
		return "sqlstate " + string(pqe.Code)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "dns " + dns.Err
	}
	// The connection closed by the other end: read as EOF, a reset or a
	// broken pipe as the timing has it, one cause for the operator.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, driver.ErrBadConn) {
		return "closed"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return "errno " + errno.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, err.Error())
}

// logWhileWaiting logs at WARN, every startupWaitLogEvery until the
// returned func is called, that what has not completed yet and why, as far
// as likely, asked each time, can tell. Stopping does not wait for a
// likely in progress (it may wait for the database); nothing is logged
// after it.
func (d *daemon) logWhileWaiting(what string, likely func() string) (stop func()) {
	began := time.Now()
	every := startupWaitLogEvery // read here: the goroutine may outlive stop
	done := make(chan struct{})
	var mu sync.Mutex // held while logging, and by stop
	stopped := false
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				why := likely()
				mu.Lock()
				if !stopped {
					d.log.Warn("ingestd: still waiting for "+what+" to complete", "waiting_s", int64(time.Since(began).Seconds()), "likely", why)
				}
				mu.Unlock()
			}
		}
	}()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		close(done)
	}
}

// askDatabase runs ask, waiting 2 s at most. An ask lib/pq cannot cut
// short (a connection's start-up without connect_timeout waits for ever
// for a host that answers nothing) is left to finish in the background,
// and until it does the next ask reports the database silent without
// asking again.
func (d *daemon) askDatabase(ctx context.Context, ask func(context.Context) (string, error)) (string, error) {
	if !d.pinging.CompareAndSwap(false, true) {
		return "", errors.New("no answer to the ping before, still waiting for it")
	}
	type answer struct {
		s   string
		err error
	}
	res := make(chan answer, 1)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	go func() {
		defer d.pinging.Store(false)
		defer cancel()
		s, err := ask(pctx)
		res <- answer{s, err}
	}()
	select {
	case a := <-res:
		return a.s, a.err
	case <-time.After(2 * time.Second):
		return "", errors.New("no answer to a ping within 2 s")
	}
}

// migrationLockClass is schema's lockClass: the first half of the key of
// a schema's migration lock, an advisory lock whose second half is
// hashtext of the schema's name.
const migrationLockClass = 0x74786d67

// migrationLockHolders names the sessions holding the migration lock of
// schema schemaName (at most five): pid, application_name, the lock's
// mode, the session's state and how long its transaction has been open
// (when the role may see them: pg_stat_activity shows another role's
// sessions' state only to pg_read_all_stats), and the sessions it waits
// for itself, if any. "" if none holds it.
func migrationLockHolders(ctx context.Context, db *sqlx.DB, schemaName string) (string, error) {
	var rows []struct {
		PID       int    `db:"pid"`
		Shared    bool   `db:"shared"`
		App       string `db:"app"`
		State     string `db:"state"`
		XactS     int64  `db:"xact_s"`
		BlockedBy string `db:"blocked_by"`
	}
	err := db.SelectContext(ctx, &rows, `
		SELECT l.pid, l.mode = 'ShareLock' AS shared, coalesce(a.application_name, '') AS app,
			coalesce(a.state, '') AS state, coalesce(extract(epoch FROM now() - a.xact_start)::bigint, -1) AS xact_s,
			coalesce((SELECT string_agg(format('pid %s "%s"', b.pid, replace(coalesce(b.application_name, ''), '"', '\"')), ', ' ORDER BY b.pid)
				FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(l.pid))), '') AS blocked_by
		FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = hashtext($2)::oid AND l.objsubid = 2
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY l.pid LIMIT 5`, migrationLockClass, schemaName)
	if err != nil {
		return "", err
	}
	var out []string
	for _, r := range rows {
		mode := "exclusive"
		if r.Shared {
			mode = "shared"
		}
		h := fmt.Sprintf("pid %d %q %s", r.PID, r.App, mode)
		if r.State != "" {
			h += ", " + r.State
		}
		if r.XactS >= 0 {
			h += fmt.Sprintf(", its transaction open %d s", r.XactS)
		}
		if r.BlockedBy != "" {
			h += ", itself waiting for " + r.BlockedBy
		}
		out = append(out, h)
	}
	return strings.Join(out, "; "), nil
}

// unreachable reports whether err says the database cannot be reached
// (yet): a fault ingestion retries, but not a statement the server
// cancelled (statement_timeout, 57014) or a lock it did not grant in time
// (lock_timeout, 55P03): the database answered, and what it refused is
// likely refused again every time.
func unreachable(err error) bool {
	var pqe *pq.Error
	if errors.As(err, &pqe) && (pqe.Code == "57014" || pqe.Code == "55P03") {
		return false
	}
	return ingest.IsTransientDBError(err)
}

// serveMetrics listens on -metrics-addr (none if empty) and serves the
// returned gate: a starting daemon's answers until gate.serve hands it the
// Ingester's handler.
func (d *daemon) serveMetrics() (string, *startingGate, func(), error) {
	gate := &startingGate{start: time.Now(), maxSilence: d.cfg.maxSilence}
	gate.setPhase("starting")
	if d.cfg.metricsAddr == "" {
		return "", gate, func() {}, nil
	}
	lis, err := net.Listen("tcp", d.cfg.metricsAddr)
	if err != nil {
		return "", nil, nil, fmt.Errorf("metrics: %w", err)
	}
	srv := &http.Server{Handler: gate, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("ingestd: metrics server", "err", err)
		}
	}()
	return lis.Addr().String(), gate, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// metricsHandler is /metrics and /healthz of the running Ingester. The
// first -max-silence counts from the daemon's start (started), not from
// when the database answered, as the starting gate's did; so does the
// "since start" of the reasons.
func (d *daemon) metricsHandler(ing *ingest.Ingester, hist *metrics.LatencyHistogram, started time.Time) http.Handler {
	return metrics.Handler(ing.Stats, metrics.Options{
		LedgerEndLag: ing.LedgerEndLag,
		Latency:      hist,
		MaxSilence:   d.cfg.maxSilence,
		Started:      started,
		Check: func() error {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.runErr != nil {
				return fmt.Errorf("ingestion stopped: %v", ingest.Redact(d.runErr.Error()))
			}
			return nil
		},
	})
}

// startingGate answers /healthz and /metrics until the Ingester's handler
// takes over: /healthz 200 "starting: <phase>" for the first -max-silence
// after start and 503 afterwards; /metrics only txhistory_healthy, as
// /healthz answers (a scrape that succeeds must still let the
// txhistory_healthy == 0 alert fire for a daemon that never gets its
// database).
type startingGate struct {
	start      time.Time
	maxSilence time.Duration
	phase      atomic.Pointer[string]
	h          atomic.Pointer[http.Handler]
}

func (g *startingGate) setPhase(p string) { g.phase.Store(&p) }

func (g *startingGate) serve(h http.Handler) { g.h.Store(&h) }

func (g *startingGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case r.URL.Path == "/healthz":
		// metrics.Handler's body, with nothing known but the phase.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		since := g.since()
		body := metrics.Health{Status: "ok", Reason: fmt.Sprintf("starting for %s: %s", since.Round(time.Second), *g.phase.Load())}
		if !g.healthy(since) {
			body.Status = "unhealthy"
			body.Reason = fmt.Sprintf("not ingesting after %s (more than %s): %s", since.Round(time.Second), g.maxSilence, *g.phase.Load())
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(body)
	case r.URL.Path == "/metrics":
		w.Header().Set("Content-Type", metrics.ContentType)
		healthy := 0
		if g.healthy(g.since()) {
			healthy = 1
		}
		fmt.Fprintf(w, "# HELP txhistory_healthy 1 if /healthz answers 200.\n# TYPE txhistory_healthy gauge\ntxhistory_healthy %d\n", healthy)
	default:
		http.NotFound(w, r)
	}
}

func (g *startingGate) since() time.Duration { return time.Since(g.start) }

// healthy reports whether a daemon starting for since is still within its
// first -max-silence.
func (g *startingGate) healthy(since time.Duration) bool { return since < g.maxSilence }

func (d *daemon) logProgress(ctx context.Context, ing *ingest.Ingester) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	lag, err := ing.LedgerEndLag(lctx)
	cancel()
	s := ing.Stats()
	var advanced int64 // offsets ingested since the previous line
	if d.progressed {
		advanced = s.Offset - d.lastOffset
	}
	d.progressed, d.lastOffset = true, s.Offset
	attrs := logattr.Known("offset", s.Offset, "update_id", s.UpdateID, "tx_per_s", round1(s.TxPerSecond),
		"transactions", s.Transactions, "batches", s.Batches)
	if !s.RecordTime.IsZero() {
		attrs = append(attrs, "record_time", s.RecordTime)
	}
	if latest := latestRecordTime(s); !latest.IsZero() {
		attrs = append(attrs, "record_time_lag_s", round1(time.Since(latest).Seconds()))
	}
	if n := errorCount(s); n > 0 {
		attrs = append(attrs, "errors", s.Errors)
	}
	switch {
	case s.State == ingest.StateWaitingForLock:
		// It moves nothing: the offset and lag are the active ingester's.
		if err == nil {
			attrs = append(attrs, "ledger_end_lag", lag)
		}
		d.log.Info("ingestd: standby: another ingester holds the schema's lock", attrs...)
	case s.State == ingest.StateRetrying:
		// A fault is being retried (the database or the participant away):
		// nothing commits until it clears, whatever the lag says. The
		// retries log their own lines with the error.
		if err == nil {
			attrs = append(attrs, "ledger_end_lag", lag)
		}
		d.log.Warn("ingestd: retrying after a fault: nothing commits until it clears", attrs...)
	case err != nil:
		d.log.Warn("ingestd: progress (ledger end unknown)", append(attrs, "err", ingest.Redact(err.Error()))...)
	case lag < 0:
		// The checkpoint is beyond the ledger end: nothing is ingested
		// until the participant reaches it (a -start-offset of another
		// participant's numbering waits for ever). Not tailing.
		d.log.Warn("ingestd: waiting for the participant's ledger end to reach the checkpoint", append(attrs, "ledger_end_lag", lag)...)
	case lag > 0 && d.noCommitFor(s) > d.cfg.maxSilence:
		// Behind, nothing retried, yet nothing committed for longer than
		// /healthz allows: a batch that waits in the database (a lock
		// another session holds: a migration's, an operator's; or a
		// database that answers nothing), or a stream that sends nothing.
		// Not "catching up".
		d.log.Warn("ingestd: no commit for longer than -max-silence while behind the ledger end, and nothing is retried: a batch may be waiting for a lock in the database (pg_stat_activity, pg_locks) or for a database that answers nothing (connect_timeout in the DSN bounds a new session's wait), or the stream be silent (-stall-timeout)",
			append(attrs, "ledger_end_lag", lag, "no_commit_for_s", int64(d.noCommitFor(s).Seconds()))...)
	case catchingUp(lag, advanced):
		d.log.Info("ingestd: catching up", append(attrs, "ledger_end_lag", lag)...)
	default:
		d.log.Info("ingestd: tailing", append(attrs, "ledger_end_lag", lag)...)
	}
}

// noCommitFor is how long s has committed nothing: since its last commit,
// or since the daemon started if none, as /healthz counts.
func (d *daemon) noCommitFor(s ingest.Stats) time.Duration {
	since := s.LastCommit
	if since.IsZero() {
		since = d.started
	}
	return time.Since(since)
}

// catchingUp tells whether the ingester, lag offsets behind the ledger end,
// is behind by more than the advanced offsets it ingested in the last
// progress interval. A busy live ledger keeps the lag above 0 between
// commits: that is tailing, not catching up.
func catchingUp(lag, advanced int64) bool { return lag > 0 && lag > advanced }

func latestRecordTime(s ingest.Stats) time.Time {
	latest := s.RecordTime
	for _, t := range s.RecordTimes {
		if t.After(latest) {
			latest = t
		}
	}
	return latest
}

func errorCount(s ingest.Stats) int64 {
	var n int64
	for _, v := range s.Errors {
		n += v
	}
	return n
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func tlsMode(c *config) string {
	switch {
	case c.plaintext:
		return "plaintext"
	case c.tlsCert != "":
		return "mutual TLS"
	}
	return "TLS"
}

func authMode(c *config) string {
	switch {
	case c.oauthTokenURL != "":
		return "OAuth2 client credentials (" + c.oauthClientID + ")"
	case c.tokenFile != "":
		if _, err := os.Stat(c.tokenFile); err != nil {
			// Perhaps the token itself, put in the file's setting.
			return "token file (not found; -token-file is not printed: it may be the token itself)"
		}
		return "token file " + c.tokenFile
	case c.token != "":
		return "static token"
	}
	return "none"
}
