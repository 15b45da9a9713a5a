// Command quickstart runs txhistory's main job end to end on an embedded
// default: it starts an in-process fake participant with a scripted
// history of token transfers for a treasury party, starts a local
// PostgreSQL from the installed server binaries (or uses -dsn), ingests the
// whole history, prints progress, the final checkpoint and counts, and exits
// 0.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -dsn postgres://user:pass@localhost/db -n 5000
//	go run ./examples/quickstart -ledger validator:5001 -party 'treasury::1220...' -plaintext
//
// With -ledger it reads from that participant instead of the fake one, up to
// the ledger end at start. SIGINT or SIGTERM stops it (exit 1), removing
// the local PostgreSQL it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/examples/internal/exampledb"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	_ "github.com/lib/pq"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", ingest.Redact(err.Error()))
		os.Exit(1)
	}
}

// run is the command with its arguments (without the program name),
// printing to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	var (
		dsn       = fs.String("dsn", "", "PostgreSQL connection string; empty starts a local throwaway server")
		ledgerAt  = fs.String("ledger", "", "Ledger API host:port of a real participant; empty starts the fake one")
		plaintext = fs.Bool("plaintext", false, "with -ledger: connect without TLS")
		tokenEnv  = fs.String("token-env", "", "with -ledger: name of an environment variable holding a bearer token")
		party     = fs.String("party", "treasury::1220cafe", "the treasury party")
		n         = fs.Int("n", 2000, "with the fake participant: how many transactions to script")
		schemaNm  = fs.String("schema", schema.DefaultName, "schema for txhistory's tables")
		verbose   = fs.Bool("v", false, "log retries and warnings")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// 1. The participant.
	endpoint := ledger.Endpoint{Target: *ledgerAt, Insecure: *plaintext}
	if *ledgerAt == "" {
		p, err := ledgertest.New()
		if err != nil {
			return err
		}
		defer p.Close()
		if err := scriptHistory(p, *party, *n); err != nil {
			return err
		}
		endpoint = ledger.Endpoint{Target: p.Addr(), Insecure: true}
		fmt.Fprintf(out, "fake participant on %s: %d transactions, ledger end %d\n", p.Addr(), *n, p.LedgerEnd())
	} else {
		if *tokenEnv != "" {
			// An unset or empty variable (a typo, an export forgotten)
			// would send no token, and the participant's refusal would
			// name neither.
			token := os.Getenv(*tokenEnv)
			if token == "" {
				if conn.MayBeToken(*tokenEnv) {
					// "-token-env $LEDGER_TOKEN" gives the token itself:
					// it is not printed.
					return conn.ErrTokenEnvNotAName
				}
				return fmt.Errorf("-token-env %s: $%s is unset or empty", *tokenEnv, *tokenEnv)
			}
			endpoint.Tokens = ledger.StaticToken(token)
		}
		if !*plaintext {
			endpoint.TLS = defaultTLS()
		}
	}
	client, err := ledger.Dial(ledger.Config{LedgerAPI: endpoint})
	if err != nil {
		return err
	}
	defer client.Close()
	end, err := client.LedgerEnd(ctx)
	if err != nil {
		return err
	}

	// 2. The Integration DB.
	db, _, closeDB, err := exampledb.Open(ctx, *dsn, "txhistory-quickstart", out)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := schema.Migrate(ctx, db, schema.WithSchema(*schemaNm)); err != nil {
		return err
	}

	// 3. Ingest up to the ledger end, printing progress. (An EndOffset of
	// 0 would mean "tail for ever".)
	// A checkpoint beyond the ledger end (a participant restored from a
	// backup, or behind this database) is not "nothing to do": with an
	// EndOffset below it the ingester would return at once, without the
	// check it makes on start.
	cps, err := checkpoint.NewStore(*schemaNm)
	if err != nil {
		return err
	}
	if cp, found, err := cps.Get(ctx, db); err != nil {
		return err
	} else if found && cp.Offset > end {
		return fmt.Errorf("%w: checkpoint offset %d (update %s), ledger end %d: the participant is behind this database or was restored from a backup (run the validator node restore runbook)",
			ingest.ErrCheckpointBeyondLedgerEnd, cp.Offset, cp.UpdateID, end)
	}
	if end == 0 {
		fmt.Fprintln(out, "ledger end 0: the participant has no transactions to ingest")
		return nil
	}
	h, report, err := newHandler(*schemaNm, *party, out)
	if err != nil {
		return err
	}
	ing, err := ingest.New(db, client, ingest.Config{
		Parties:   []string{*party},
		Schema:    *schemaNm,
		Handler:   h,
		EndOffset: end,
		Logger:    logger,
	})
	if err != nil {
		return err
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case err = <-done:
			running = false
		case <-tick.C:
			s := ing.Stats()
			fmt.Fprintf(out, "  offset %6d / %d   transactions %6d   %7.0f tx/s\n", s.Offset, end, s.Transactions, s.TxPerSecond)
		}
	}
	if err != nil {
		return err
	}
	s := ing.Stats()
	fmt.Fprintf(out, "ingested %d transactions in %d batches in %s\n", s.Transactions, s.Batches, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(out, "checkpoint: offset %d, update id %s, record time %s\n", s.Offset, s.UpdateID, s.RecordTime.Format(time.RFC3339Nano))
	return report(ctx, db)
}
