package tokenstd_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// TestTokenHistoryThroughIngester runs a scripted history on the fake
// participant through the Ingester with the History handler, then ingests
// the same range again after deleting the checkpoint, the record times and
// the dedup rows, so that the handler itself sees every transaction a
// second time: nothing changes, nothing is credited twice.
func TestTokenHistoryThroughIngester(t *testing.T) {
	b := setupHistory(t)
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	d := ledgertest.BuildDemoHistory(treasury, 250)
	_, err = p.Append(d.Transactions...)
	require.NoError(t, err)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })

	h := newHistory(t, tokenstd.Config{Credit: creditor()})
	run := func() {
		ing, err := ingest.New(b.db, client, ingest.Config{
			Parties: []string{treasury}, Schema: testSchema, Handler: h, EndOffset: p.LedgerEnd(), MaxBatchSize: 64,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		require.NoError(t, err)
		require.NoError(t, ing.Run(b.ctx))
	}
	run()

	balances, err := tokenstd.Balances(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	want := map[tokenstd.Instrument]decimal.Decimal{}
	for inst, amt := range d.World.Balances(treasury) {
		want[toInstrument(inst)] = amt
	}
	requireSameAmounts(t, want, balances, "balances after ingestion")
	before := b.snapshot(t)

	_, err = b.db.ExecContext(b.ctx, `DELETE FROM tokens.ingested_update; DELETE FROM tokens.synchronizer_time; DELETE FROM tokens.checkpoint`)
	require.NoError(t, err)
	run()
	require.Equal(t, before, b.snapshot(t))
}
