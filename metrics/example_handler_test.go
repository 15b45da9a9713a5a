package metrics_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
)

// Serve an Ingester's metrics and health for Prometheus and a load
// balancer, beside the Ingester, in the same process.
func ExampleHandler() {
	ctx := context.Background()
	const treasury = "treasury::1220ex"
	db, drop, err := pgtest.Open(ctx, "ExampleHandler")
	if err != nil {
		panic(err)
	}
	defer drop()
	if err := schema.Migrate(ctx, db); err != nil {
		panic(err)
	}
	p, err := ledgertest.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	// Five deposits and withdrawals of the treasury, at fixed record times
	// (the last at 2026-01-01T00:00:05Z, Unix 1767225605).
	transfers := ledgertest.TransferHistory{Treasury: treasury, Customers: 2, WithdrawEvery: 3}
	for i := 1; i <= 5; i++ {
		tx := transfers.Tx(i)
		tx.RecordTime = ledgertest.DefaultStartTime.Add(time.Duration(i) * time.Second)
		if _, err := p.Append(tx); err != nil {
			panic(err)
		}
	}

	// The latency histogram is fed by the Ingester's OnCommit hook.
	hist := metrics.NewLatencyHistogram()
	ing, err := ingest.New(db, client, ingest.Config{
		Parties: []string{treasury}, EndOffset: p.LedgerEnd(), OnCommit: hist.Observe,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	// The handler reads ing.Stats at every scrape; LedgerEndLag asks the
	// participant for its ledger end at every scrape too.
	srv := httptest.NewServer(metrics.Handler(ing.Stats, metrics.Options{LedgerEndLag: ing.LedgerEndLag, Latency: hist}))
	defer srv.Close()
	// A bounded run: Run returns once the checkpoint reaches EndOffset.
	if err := ing.Run(ctx); err != nil {
		panic(err)
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Type"))
	// A few of the series; others (latencies, rates, commit times) vary
	// from run to run.
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		for _, name := range []string{"checkpoint_offset ", "ledger_end_lag ", "record_time_seconds{", "transactions_total ", "skipped_transactions_total ", `errors_total{kind="stream"}`, "healthy "} {
			if strings.HasPrefix(sc.Text(), "txhistory_"+name) {
				fmt.Println(sc.Text())
			}
		}
	}

	// /healthz answers 503 now: Run has returned, so the Ingester is stopped.
	hresp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		panic(err)
	}
	defer hresp.Body.Close()
	var h metrics.Health
	if err := json.NewDecoder(hresp.Body).Decode(&h); err != nil {
		panic(err)
	}
	fmt.Printf("/healthz: %d %s at offset %d: %s\n", hresp.StatusCode, h.Status, h.Offset, h.Reason)
	// Output:
	// text/plain; version=0.0.4; charset=utf-8
	// txhistory_checkpoint_offset 5
	// txhistory_ledger_end_lag 0
	// txhistory_record_time_seconds{synchronizer="global-domain::1220aa"} 1.767225605e+09
	// txhistory_transactions_total 5
	// txhistory_skipped_transactions_total 0
	// txhistory_errors_total{kind="stream"} 0
	// txhistory_healthy 0
	// /healthz: 503 unhealthy at offset 5: stopped: Run has returned (at offset 5); nothing is ingesting
}
