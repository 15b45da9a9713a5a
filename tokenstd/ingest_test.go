package tokenstd_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
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

// TestTokenHistoryReplayAfterDedupPruned replays, through the Ingester,
// history whose older dedup rows were pruned (dedup.Store.PruneBefore):
// the Ingester claims those transactions again, and History must find
// them stored. The replay runs in batches of one transaction, so that
// every stored transaction is looked at on its own, and goes on into new
// transactions. The end state must be that of one clean run over the whole
// history, bar the order numbers of history entries, with nothing
// credited twice.
func TestTokenHistoryReplayAfterDedupPruned(t *testing.T) {
	d := ledgertest.BuildDemoHistory(treasury, 300)
	ingestAll := func(b *historyBundle, p *ledgertest.Participant, h *tokenstd.History, batch int) {
		t.Helper()
		client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
		require.NoError(t, err)
		defer client.Close()
		ing, err := ingest.New(b.db, client, ingest.Config{
			Parties: []string{treasury}, Schema: testSchema, Handler: h, EndOffset: p.LedgerEnd(), MaxBatchSize: batch,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		require.NoError(t, err)
		require.NoError(t, ing.Run(b.ctx))
	}
	state := func(b *historyBundle) []string {
		t.Helper()
		var out []string
		for _, q := range []string{
			`SELECT coalesce(json_agg(h ORDER BY contract_id), '[]')::text FROM tokens.token_holding h`,
			`SELECT coalesce(json_agg(i ORDER BY contract_id), '[]')::text FROM tokens.token_instruction i`,
			`SELECT coalesce(json_agg(to_jsonb(e) - 'id' ORDER BY id), '[]')::text FROM tokens.token_history e`,
			`SELECT coalesce(json_agg(c ORDER BY update_id, node_id), '[]')::text FROM public.credit c`,
			`SELECT count(*)::text FROM tokens.review_transaction`,
		} {
			var s string
			require.NoError(t, b.db.GetContext(b.ctx, &s, q))
			out = append(out, s)
		}
		return out
	}
	newParticipant := func() *ledgertest.Participant {
		p, err := ledgertest.New()
		require.NoError(t, err)
		t.Cleanup(p.Close)
		return p
	}

	// The reference: one clean run.
	ref := setupHistory(t)
	p := newParticipant()
	_, err := p.Append(d.Transactions...)
	require.NoError(t, err)
	ingestAll(ref, p, newHistory(t, tokenstd.Config{Credit: creditor()}), 64)
	want := state(ref)
	require.NotEqual(t, "[]", want[2], "the reference run wrote no history")

	b := setupHistory(t)
	h := newHistory(t, tokenstd.Config{Credit: creditor()})
	p = newParticipant()
	_, err = p.Append(d.Transactions[:200]...)
	require.NoError(t, err)
	ingestAll(b, p, h, 64)

	// Prune the older dedup rows, and start again from the beginning of the
	// ledger, with 100 new transactions after it.
	var cut time.Time
	require.NoError(t, b.db.GetContext(b.ctx, &cut, `SELECT record_time FROM tokens.ingested_update ORDER BY ledger_offset OFFSET 80 LIMIT 1`))
	store, err := dedup.NewStore(testSchema)
	require.NoError(t, err)
	pruned, err := store.PruneBefore(b.ctx, b.db, cut)
	require.NoError(t, err)
	require.Positive(t, pruned)
	_, err = b.db.ExecContext(b.ctx, `DELETE FROM tokens.synchronizer_time; DELETE FROM tokens.checkpoint`)
	require.NoError(t, err)
	_, err = p.Append(d.Transactions[200:]...)
	require.NoError(t, err)
	ingestAll(b, p, h, 1)

	got := state(b)
	for i, name := range []string{"holdings", "instructions", "history", "credits", "set aside"} {
		require.Equal(t, want[i], got[i], "%s differ from a clean run", name)
	}
}
