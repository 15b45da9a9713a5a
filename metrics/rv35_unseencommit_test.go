package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/metrics"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestRV35DatabaseFaultAfterAnUnscrapedCommit: /healthz is healthy when
// caught up only if "no database error was counted since the last
// commit". The exporter counted from the errors it saw at its first look
// at the last commit: when the ingester committed, then met a database
// fault before the next scrape (commits are usually more frequent than
// scrapes, so this is the common case), that fault was taken as older
// than the commit. With the database gone for good (a quiet ledger, the
// lock lost and taken again in vain, which counts no more faults) the
// ingester stayed healthy, "caught up", for as long as the outage lasted.
func TestRV35DatabaseFaultAfterAnUnscrapedCommit(t *testing.T) {
	const party = "treasury::1220ab"
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	require.NoError(t, err)
	defer p.Close()
	appendTxs := func(from, n int) {
		for i := from; i < from+n; i++ {
			_, err := p.Append(&ledger.Transaction{Events: []ledger.Event{&ledger.CreatedEvent{
				ContractID: fmt.Sprintf("00c%d", i), TemplateID: ledger.MustParseIdentifier("#pkg:Mod:T"),
				CreateArguments: ledger.Record(nil, ledger.F("owner", ledger.Party(party))),
				WitnessParties:  []string{party}, Signatories: []string{party},
			}}})
			require.NoError(t, err)
		}
	}
	appendTxs(0, 10)
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	db, err := sqlx.Open("postgres", srv.DSN("postgres"))
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, schema.Migrate(ctx, db))
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer client.Close()
	ing, err := ingest.New(db, client, ingest.Config{
		Parties: []string{party}, LockCheck: 20 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	defer func() { cancel(); <-done }()

	clk := &clock{t: time.Now()}
	h := metrics.Handler(ing.Stats, metrics.Options{Now: clk.Now, MaxSilence: time.Minute, LedgerEndLag: ing.LedgerEndLag})
	require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)
	code, got := health(t, h)
	require.Equal(t, http.StatusOK, code, got.Reason)

	// One more commit, which no scrape sees, then the database goes away.
	appendTxs(10, 5)
	require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, srv.Stop(ctx))
	require.Eventually(t, func() bool { return ing.Stats().Errors["database"] > 0 }, 20*time.Second, 5*time.Millisecond)

	clk.t = time.Now().Add(10 * time.Minute)
	code, got = health(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code,
		"healthy with the database gone since just after the last commit (errors %v): %q", ing.Stats().Errors, got.Reason)
}
