// Command runbook runs the validator node restore runbook ("Restoring the
// Exchange Validator Node" of the exchange integration guide) against a
// restored participant and the Integration DB, step by step, printing each
// step's result. Without -yes it is a dry run: it writes nothing and shows
// the checkpoint rewind it would make.
//
// Before restoring the node, with ingestion stopped, list the packages used
// since the backup (runbook step 4) while the old node still serves every
// transaction:
//
//	runbook -packages-only -since 2026-03-01T02:00:00Z \
//	    -ledger validator:5001 -admin validator:5002 -dsn "$DSN" -party "$TREASURY"
//
// After restoring it:
//
//	runbook -ledger validator:5001 -admin validator:5002 -dsn "$DSN" -party "$TREASURY"        # dry run
//	runbook -ledger validator:5001 -admin validator:5002 -dsn "$DSN" -party "$TREASURY" -yes   # apply
//
// Then start Tx History Ingestion again. Flags:
//
//	-ledger     Ledger API host:port (required)
//	-admin      admin API host:port (required, except with -packages-only)
//	-plaintext  connect without TLS (default: TLS with the system roots)
//	-token-env  name of an environment variable holding a bearer token for both APIs
//	-dsn        PostgreSQL connection string of the Integration DB (required)
//	-schema     schema of txhistory's tables (default txhistory)
//	-party      the treasury party ingestion reads (required)
//	-mode       unique or non-unique (default non-unique: correct either way, thanks to update-id dedup)
//	-admin-api  auto, 3.4 or 3.5 (default auto: told from the participant's errors)
//	-since      time of the backup (RFC 3339): list the packages used since (step 4)
//	-timeout    how long to wait for the participant to process tRecovery (default 1h)
//	-poll       pause between look-ups while waiting (default 2s)
//	-note       text for the audit row (who, ticket)
//	-yes        rewrite the checkpoint (step 6)
//
// Exit status: 0 when every step passed, 1 when one failed, 2 for bad flags.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runbook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		ledgerAt  = fs.String("ledger", "", "Ledger API host:port")
		adminAt   = fs.String("admin", "", "admin API host:port")
		plaintext = fs.Bool("plaintext", false, "connect without TLS")
		tokenEnv  = fs.String("token-env", "", "name of an environment variable holding a bearer token")
		dsn       = fs.String("dsn", "", "PostgreSQL connection string of the Integration DB")
		schemaNm  = fs.String("schema", schema.DefaultName, "schema of txhistory's tables")
		party     = fs.String("party", "", "the treasury party")
		modeFlag  = fs.String("mode", string(recovery.ModeNonUnique), "unique or non-unique")
		adminAPI  = fs.String("admin-api", "auto", "admin API behaviour: auto, 3.4 or 3.5")
		sinceFlag = fs.String("since", "", "time of the backup (RFC 3339): list the packages used since")
		timeout   = fs.Duration("timeout", recovery.TimeoutDefault, "how long to wait for the participant to process tRecovery")
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
	mode, err := recovery.ParseMode(*modeFlag)
	if err != nil {
		return usage("%v", err)
	}
	api, err := recovery.ParseAdminAPI(*adminAPI)
	if err != nil {
		return usage("%v", err)
	}
	var since time.Time
	if *sinceFlag != "" {
		if since, err = time.Parse(time.RFC3339Nano, *sinceFlag); err != nil {
			return usage("-since: %v", err)
		}
	}
	switch {
	case *ledgerAt == "":
		return usage("-ledger is required")
	case *adminAt == "" && !*pkgsOnly:
		return usage("-admin is required")
	case *dsn == "":
		return usage("-dsn is required")
	case *party == "":
		return usage("-party is required")
	case *pkgsOnly && since.IsZero():
		return usage("-packages-only needs -since")
	}

	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := runbookConfig{
		ledger: *ledgerAt, admin: *adminAt, plaintext: *plaintext, tokenEnv: *tokenEnv, dsn: *dsn, yes: *yes, packagesOnly: *pkgsOnly,
		since: since,
		options: recovery.Options{
			Schema: *schemaNm, Parties: []string{*party}, Mode: mode, AdminAPI: api, Timeout: *timeout, PollInterval: *poll, Note: *note,
			Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		},
	}
	if err := runRunbook(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "runbook:", ingest.Redact(err.Error()))
		return 1
	}
	return 0
}

type runbookConfig struct {
	ledger, admin string
	plaintext     bool
	tokenEnv      string
	dsn           string
	since         time.Time
	packagesOnly  bool
	yes           bool
	options       recovery.Options
}

func (c runbookConfig) endpoint(target string) ledger.Endpoint {
	ep := ledger.Endpoint{Target: target, Insecure: c.plaintext}
	if !c.plaintext {
		ep.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.tokenEnv != "" {
		ep.Tokens = ledger.StaticToken(os.Getenv(c.tokenEnv))
	}
	return ep
}

func runRunbook(ctx context.Context, c runbookConfig, out io.Writer) error {
	lc := ledger.Config{LedgerAPI: c.endpoint(c.ledger)}
	if c.admin != "" {
		lc.Admin = c.endpoint(c.admin)
	}
	client, err := ledger.Dial(lc)
	if err != nil {
		return err
	}
	defer client.Close()
	db, err := sqlx.Open("postgres", c.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to the Integration DB: %w", err)
	}

	if c.packagesOnly {
		rep, err := recovery.Packages(ctx, db, client, c.since, recovery.PackageOptions{Schema: c.options.Schema, Parties: c.options.Parties})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%d transactions ingested since %s use %d package(s):\n", rep.Transactions, c.since.Format(time.RFC3339Nano), len(rep.Packages))
		for _, p := range rep.Packages {
			fmt.Fprintf(out, "  %s %s (first used %s, %d transactions): %v\n", p.PackageID, p.PackageName, p.FirstSeen.Format(time.RFC3339Nano), p.Transactions, p.Templates)
		}
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
	return err
}
