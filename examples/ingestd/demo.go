package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
)

// demoParty is the treasury of the demo.
const demoParty = "treasury::1220demo"

// startDemo starts an in-process fake participant that keeps appending
// transactions and a local PostgreSQL, and points cfg at them.
func startDemo(ctx context.Context, cfg *config, log *slog.Logger) (stop func(), err error) {
	// The backlog's record times end now, so that the record-time lag is
	// real; appended transactions carry the wall clock as record time.
	start := time.Now().Add(-time.Duration(cfg.demoBacklog) * time.Millisecond)
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(500*time.Millisecond), ledgertest.WithStartTime(start))
	if err != nil {
		return nil, err
	}
	if len(cfg.demoIgnored) > 0 {
		log.Warn("ingestd: demo: the host's settings are not used; the demo has a participant, a local PostgreSQL and a party of its own",
			"not_used", strings.Join(cfg.demoIgnored, ", "))
	}
	if pg := dropLibpqEnvironment(); len(pg) > 0 {
		log.Warn("ingestd: demo: the host's libpq environment is not used", "not_used", strings.Join(pg, ", "))
	}
	cfg.party = demoParty
	for i := 0; i < cfg.demoBacklog; i += 1000 {
		if _, err := p.Append(demoTxs(cfg.party, i, min(1000, cfg.demoBacklog-i))...); err != nil {
			p.Close()
			return nil, err
		}
	}
	srv, err := pgtest.StartServer(ctx, pgtest.ServerOptions{})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("start a local PostgreSQL for the demo (install the PostgreSQL server binaries): %w", err)
	}
	cfg.dsn = srv.DSN("postgres")
	cfg.ledger, cfg.admin, cfg.plaintext = p.Addr(), "", true
	log.Info("ingestd: demo: fake participant and local PostgreSQL started", "ledger", p.Addr(),
		"ledger_end", p.LedgerEnd(), "append_per_s", cfg.demoRate, "party", cfg.party)

	appendCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if cfg.demoRate <= 0 {
			return
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		n, carry, last := cfg.demoBacklog, 0.0, time.Time{}
		for {
			select {
			case <-appendCtx.Done():
				return
			case <-tick.C:
			}
			carry += float64(cfg.demoRate) / 10
			k := int(carry)
			carry -= float64(k)
			if k == 0 {
				continue
			}
			txs := demoTxs(cfg.party, n, k)
			for _, t := range txs {
				if now := time.Now(); now.After(last) { // record times never go back
					last = now
				}
				t.RecordTime = last
			}
			if _, err := p.Append(txs...); err != nil {
				log.Error("ingestd: demo: append", "err", err)
				return
			}
			n += k
		}
	})
	return func() {
		cancel()
		wg.Wait()
		p.Close()
		if srv != nil {
			_ = srv.Close()
		}
	}, nil
}

var (
	demoHolding = ledger.MustParseIdentifier("#demo-token:Demo.Token:Holding")
	demoOther   = "exchange-b::1220demo"
)

// demoTxs makes k transactions numbered from: holdings created for the
// treasury, with every fifth one for another party (not visible to the
// treasury: the stream shows offset gaps).
func demoTxs(treasury string, from, k int) []*ledger.Transaction {
	out := make([]*ledger.Transaction, 0, k)
	for i := from; i < from+k; i++ {
		owner := treasury
		if i%5 == 4 {
			owner = demoOther
		}
		out = append(out, &ledger.Transaction{
			CommandID: fmt.Sprintf("demo-%d", i),
			Events: []ledger.Event{&ledger.CreatedEvent{
				ContractID: fmt.Sprintf("00demo%08d", i),
				TemplateID: demoHolding,
				CreateArguments: ledger.Record(nil,
					ledger.F("owner", ledger.Party(owner)),
					ledger.F("amount", ledger.Numeric(fmt.Sprintf("%d.%010d", i%1000, i))),
				),
				WitnessParties: []string{owner},
				Signatories:    []string{owner},
			}},
		})
	}
	return out
}

// dropLibpqEnvironment unsets the PG* variables of this process, which
// lib/pq reads for whatever a connection string leaves out (PGSERVICE and
// its service file, PGPASSWORD, PGHOSTADDR, PGSSLMODE, ...): the demo's
// PostgreSQL is its own, not the one a host's shell is set up for.
// pgtest's PG_BINDIR, naming the server binaries to start, stays. It
// returns the names it unset.
func dropLibpqEnvironment() []string {
	var names []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PG") && name != pgtest.EnvBinDir { // where the server binaries are: pgtest's
			names = append(names, name)
			_ = os.Unsetenv(name)
		}
	}
	slices.Sort(names)
	return names
}
