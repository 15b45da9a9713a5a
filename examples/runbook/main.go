// Command runbook runs the validator node restore runbook ("Restoring the
// Exchange Validator Node" of the exchange integration guide) against a
// restored participant and the Integration DB, step by step, printing each
// step's result. Without -yes it is a dry run: it writes nothing and shows
// the checkpoint rewind it would make.
//
// It connects as examples/ingestd does, with the same settings, so that the
// daemon's environment serves (docs/OPERATIONS.md): every connection
// setting also comes from its TXHISTORY_* environment variable, and a flag
// given on the command line wins. Secrets stay out of the process list: the
// DSN comes from $TXHISTORY_DSN or -dsn-file (-dsn is still accepted, and
// wins).
//
//	export TXHISTORY_LEDGER=validator:5001 TXHISTORY_ADMIN=validator:5002
//	export TXHISTORY_PARTY="$TREASURY" TXHISTORY_DSN_FILE=/run/secrets/txhistory-dsn
//	export TXHISTORY_TLS_CA=/etc/txhistory/ca.pem
//	export TXHISTORY_TLS_CERT=/etc/txhistory/client.pem TXHISTORY_TLS_KEY=/etc/txhistory/client-key.pem
//
// Before restoring the node, with ingestion stopped, list the packages used
// since the backup (runbook step 4) while the old node still serves every
// transaction:
//
//	runbook -packages-only -since 2026-03-01T02:00:00Z
//
// After restoring it:
//
//	runbook               # dry run
//	runbook -yes          # apply
//
// Then start Tx History Ingestion again. Flags (environment variable in
// parentheses):
//
//	-ledger           Ledger API host:port or gRPC target (required) ($TXHISTORY_LEDGER)
//	-admin            admin API host:port or gRPC target (required, except with -packages-only) ($TXHISTORY_ADMIN)
//	-plaintext        connect without TLS, loopback only ($TXHISTORY_PLAINTEXT; default: TLS with the system roots)
//	-tls-ca           PEM file of the CA that signed the participant's certificates ($TXHISTORY_TLS_CA)
//	-tls-cert         PEM client certificate for mutual TLS, both APIs ($TXHISTORY_TLS_CERT)
//	-tls-key          its key ($TXHISTORY_TLS_KEY)
//	-tls-server-name  name to verify the participant's certificates against ($TXHISTORY_TLS_SERVER_NAME)
//	-admin-tls-cert   another client certificate for the admin API ($TXHISTORY_ADMIN_TLS_CERT)
//	-admin-tls-key    its key ($TXHISTORY_ADMIN_TLS_KEY)
//	-token-file       file holding a bearer token for both APIs, read again before every call ($TXHISTORY_TOKEN_FILE)
//	-token-env        name of an environment variable holding a bearer token (default $TXHISTORY_TOKEN)
//	-oauth-token-url, -oauth-client-id, -oauth-audience, -oauth-scopes, -oauth-client-secret-file
//	                  OAuth2 client credentials, as ingestd's (the secret in $TXHISTORY_OAUTH_CLIENT_SECRET)
//	-oauth-plaintext-token-url
//	                  allow an http:// -oauth-token-url to a host that is not loopback, a trusted link only ($TXHISTORY_OAUTH_PLAINTEXT_TOKEN_URL)
//	-max-recv-msg-size
//	                  largest message taken from the participant, in bytes (default 64 MiB), as ingestd's ($TXHISTORY_MAX_RECV_MSG_SIZE)
//	-dsn-file         file holding the Integration DB's connection string ($TXHISTORY_DSN_FILE; else $TXHISTORY_DSN)
//	-dsn              the connection string itself (wins, but shows the password in the process list)
//	-schema           schema of txhistory's tables (default txhistory) ($TXHISTORY_SCHEMA)
//	-party            the treasury party ingestion reads (required) ($TXHISTORY_PARTY)
//	-mode             unique or non-unique (default non-unique: correct either way, thanks to update-id dedup)
//	-admin-api        auto, 3.4 or 3.5 (default auto: told from the participant's errors)
//	-since            time of the backup (RFC 3339): list the packages used since (step 4)
//	-packages-only    only list the packages used since -since (run before restoring the node; -admin not needed)
//	-timeout          how long to wait for the participant to process tRecovery, then for the synchronizers it reports
//	                  (its next OffsetCheckpoint: about a minute on a quiet ledger) and for the read of the treasury's
//	                  transactions for synchronizers the Integration DB never saw or knows from OffsetCheckpoints
//	                  alone (from the pruning offset: give a long history more), and for the package listing (default 1h)
//	-poll             pause between look-ups while waiting (default 2s)
//	-note             text for the audit row (who, ticket)
//	-yes              rewrite the checkpoint (step 6)
//	-v                log what the steps do to stderr
//
// Exit status: 0 when every step passed, 1 when one failed, 2 for a
// configuration error (a missing or malformed setting, a TLS or secret file
// that cannot be read), found before anything is dialled. SIGINT or
// SIGTERM stops it at the step under way, which fails (exit 1); a second
// signal kills it at once; step 6 rewrites the checkpoint in one SQL
// transaction, entirely or not at all.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/examples/internal/exampledb"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	_ "github.com/lib/pq"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status. getenv reads the
// environment (os.Getenv, or a map in tests).
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runbook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	env := &envFlags{fs: fs, getenv: getenv, malformed: map[string]error{}}
	var settings connSettings
	settings.define(env)
	var party, schemaNm string
	env.str(&party, "party", conn.EnvParty, "", "the treasury party ingestion reads")
	env.str(&schemaNm, "schema", conn.EnvSchema, schema.DefaultName, "schema of txhistory's tables")
	var (
		modeFlag  = fs.String("mode", string(recovery.ModeNonUnique), "unique or non-unique")
		adminAPI  = fs.String("admin-api", "auto", "admin API behaviour: auto, 3.4 or 3.5")
		sinceFlag = fs.String("since", "", "time of the backup (RFC 3339): list the packages used since")
		timeout   = fs.Duration("timeout", recovery.TimeoutDefault, "how long to wait for the participant to process tRecovery, then for the synchronizers it reports (its next OffsetCheckpoint: about a minute on a quiet ledger) and for the read of the treasury's transactions for synchronizers the Integration DB never saw or knows from OffsetCheckpoints alone (from the pruning offset: give a long history more), and for the package listing (-since)")
		poll      = fs.Duration("poll", recovery.PollIntervalDefault, "pause between look-ups while waiting")
		note      = fs.String("note", "", "text for the audit row")
		pkgsOnly  = fs.Bool("packages-only", false, "only list the packages used since -since (run before restoring the node)")
		yes       = fs.Bool("yes", false, "rewrite the checkpoint")
		verbose   = fs.Bool("v", false, "log to stderr")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "runbook: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	if err := env.err(); err != nil {
		return usage("%v", err)
	}
	settings.commandLineWins(fs)
	mode, err := recovery.ParseMode(*modeFlag)
	if err != nil {
		return usage("-mode: %v", err)
	}
	api, err := recovery.ParseAdminAPI(*adminAPI)
	if err != nil {
		return usage("-admin-api: %v", err)
	}
	var since time.Time
	if *sinceFlag != "" {
		if since, err = time.Parse(time.RFC3339Nano, *sinceFlag); err != nil {
			return usage("-since: %v", err)
		}
	}
	switch {
	case settings.ledger == "":
		return usage("-ledger (or $%s) is required", conn.EnvLedger)
	case settings.admin == "" && !*pkgsOnly:
		return usage("-admin (or $%s) is required", conn.EnvAdmin)
	case party == "":
		return usage("-party (or $%s) is required", conn.EnvParty)
	case *pkgsOnly && since.IsZero():
		return usage("-packages-only needs -since")
	case *pkgsOnly && *yes:
		return usage("-yes with -packages-only: the package listing writes nothing; run the runbook without -packages-only to rewrite the checkpoint")
	}
	if err := schema.ValidateName(schemaNm); err != nil {
		return usage("-schema (or $%s): %v", conn.EnvSchema, err)
	}
	// recovery.Options would take zero or less for its default.
	if *timeout <= 0 {
		return usage("-timeout %v: must be positive", *timeout)
	}
	if *poll <= 0 {
		return usage("-poll %v: must be positive", *poll)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal stops the step under way; a second one kills the
	// process, should that step wait where its context does not reach.
	context.AfterFunc(ctx, stop)
	// Every file is read and every setting checked here: a bad one is a
	// configuration error before anything is dialled.
	endpoints, err := settings.resolve(ctx, getenv)
	if err != nil {
		return usage("%s", ingest.Redact(err.Error()))
	}

	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	cfg := runbookConfig{
		connection: *endpoints, yes: *yes, packagesOnly: *pkgsOnly, since: since,
		options: recovery.Options{
			Schema: schemaNm, Parties: []string{party}, Mode: mode, AdminAPI: api, Timeout: *timeout, PollInterval: *poll, Note: *note,
			Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		},
	}
	if err := runRunbook(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "runbook:", ingest.Redact(err.Error()))
		return 1
	}
	return 0
}

const usageText = `Usage: runbook [flags]

Runs the validator node restore runbook against a restored participant and
the Integration DB; a dry run unless -yes. The connection settings are
ingestd's: each also comes from the environment variable shown in its help
($TXHISTORY_*), and a flag given on the command line wins. Keep secrets out
of flags, which other users see in the process list: the DSN in
$TXHISTORY_DSN or -dsn-file, a token in $TXHISTORY_TOKEN or -token-file, the
OAuth2 client secret in $TXHISTORY_OAUTH_CLIENT_SECRET or
-oauth-client-secret-file.

Exit status: 0 when every step passed, 1 when one failed (SIGINT or
SIGTERM fails the step under way; a second signal kills it), 2 for a
configuration error (a missing or malformed setting, a TLS or secret file
that cannot be read).

Flags:
`

type runbookConfig struct {
	connection
	since        time.Time
	packagesOnly bool
	yes          bool
	options      recovery.Options
}

func runRunbook(ctx context.Context, c runbookConfig, out io.Writer) error {
	lc := ledger.Config{LedgerAPI: c.ledgerAPI, MaxRecvMsgSize: c.maxRecvMsgSize}
	if c.adminAPI.Target != "" {
		lc.Admin = c.adminAPI
	}
	client, err := ledger.Dial(lc)
	if err != nil {
		return err
	}
	defer client.Close()
	db, err := exampledb.Pool(c.dsn, "txhistory-runbook")
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to the Integration DB: %w", err)
	}

	if c.packagesOnly {
		timeout := c.options.WithDefaults().Timeout
		pctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		rep, err := recovery.Packages(pctx, db, client, c.since, recovery.PackageOptions{Schema: c.options.Schema, Parties: c.options.Parties})
		if err != nil {
			if pctx.Err() != nil && ctx.Err() == nil {
				return fmt.Errorf("the participant did not answer the look-ups within -timeout (%s): %w", timeout, err)
			}
			return withHint(err, c.connection)
		}
		fmt.Fprintf(out, "%d transactions ingested since %s use %d package(s):\n", rep.Transactions, c.since.Format(time.RFC3339Nano), len(rep.Packages))
		for _, p := range rep.Packages {
			fmt.Fprintf(out, "  %s %s (first used %s, %d transactions): %v\n", p.PackageID, p.PackageName, p.FirstSeen.Format(time.RFC3339Nano), p.Transactions, p.Templates)
		}
		fmt.Fprintln(out, rep.Coverage())
		if len(rep.Missing) > 0 {
			return fmt.Errorf("%d transactions are not visible on the participant (first: %s)", len(rep.Missing), rep.Missing[0])
		}
		return nil
	}

	rb := &recovery.Runbook{DB: db, Participant: client, Options: c.options, PackagesSince: c.since, Apply: c.yes, Out: out}
	_, err = rb.Run(ctx)
	if errors.Is(err, recovery.ErrIngestionRunning) {
		return fmt.Errorf("%w; stop the ingestion service and run again", err)
	}
	return withHint(err, c.connection)
}

// withHint names the setting to change when err is a message over the
// client's limit (a big transaction of the treasury), the OAuth2 token
// endpoint's refusal of the client or of the token URL, or the
// participant's refusal of the token or of its user's rights.
func withHint(err error, c connection) error {
	if err == nil {
		return nil
	}
	endpoint := conn.NotTheEndpoint // what the OAuth2 token endpoint refused, if it did
	if errors.Is(err, ledger.ErrUnauthenticated) && c.oauthClientID != "" {
		endpoint = conn.TokenEndpointRefusal(err)
	}
	switch {
	case errors.Is(err, ledger.ErrMessageRejected) && strings.Contains(err.Error(), "larger than the client takes"):
		return fmt.Errorf("%w; the runbook takes at most %d bytes: raise -max-recv-msg-size ($TXHISTORY_MAX_RECV_MSG_SIZE) above the message's size, as for ingestd", err, c.maxRecvMsgSize)
	// The token endpoint's refusals: the participant was not asked.
	case endpoint == conn.EndpointURL:
		return fmt.Errorf("%w; the identity provider does not serve its token endpoint at -oauth-token-url ($TXHISTORY_OAUTH_TOKEN_URL; a wrong path?): set the provider's token URL and run again", err)
	case endpoint == conn.EndpointClient:
		return fmt.Errorf("%w; the token endpoint refused client %s (its secret, $%s or -oauth-client-secret-file, or the audience or scopes asked for): once they agree with the identity provider, run again", err, c.oauthClientID, conn.EnvClientSecret)
	case endpoint == conn.EndpointFault:
		return err
	case errors.Is(err, ledger.ErrUnauthenticated) && c.tokenFrom == "":
		return fmt.Errorf("%w; the participant asks for a token and none is configured: use OAuth2 (-oauth-token-url), -token-file, -token-env or $%s", err, conn.EnvToken)
	case errors.Is(err, ledger.ErrUnauthenticated):
		return fmt.Errorf("%w; the participant refused %s (expired?): renew it and run again", err, c.tokenFrom)
	case errors.Is(err, ledger.ErrPermissionDenied) && c.tokenFrom != "":
		return fmt.Errorf("%w; the participant refused the rights of the user of %s: the runbook needs a user that can read as the treasury party on the Ledger API and a token the admin API takes (an admin's: -token-env)", err, c.tokenFrom)
	}
	return err
}
