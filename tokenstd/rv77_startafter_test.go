package tokenstd_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// TestSpendOfHoldingCreatedBeforeStart starts ingesting the treasury
// after its holding was created (Config.StartOffset past the deposit that
// created it), then the treasury withdraws from that holding: 60 to bob,
// a fee of 0.5, 39.5 change back to the treasury. History never saw the
// 100 spent, so it must not book the withdrawal as one that gained the
// treasury 39.5 and cost it a fee of −99.5 (which the withdrawal life
// cycle would carry as the withdrawal's fee): it stops, naming the
// holding and what to do.
func TestSpendOfHoldingCreatedBeforeStart(t *testing.T) {
	b := setupHistory(t)
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	w := &ledgertest.TokenWorld{}
	_, err = p.Append(w.Mint(alice, "500"))
	require.NoError(t, err)
	_, err = p.Append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "100", Reason: "acct-1"}))
	require.NoError(t, err)
	old := w.Holdings(treasury)
	require.Len(t, old, 1)
	start := p.LedgerEnd()
	_, err = p.Append(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "60", Reason: "wd-1", Fee: "0.5"}))
	require.NoError(t, err)

	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	ing, err := ingest.New(b.db, client, ingest.Config{
		Parties: []string{treasury}, Schema: testSchema, Handler: newHistory(t, tokenstd.Config{Credit: creditor()}),
		StartOffset: start, EndOffset: p.LedgerEnd(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	err = ing.Run(b.ctx)

	var entries int
	require.NoError(t, b.db.GetContext(b.ctx, &entries, `SELECT count(*) FROM tokens.token_history`))
	require.Zero(t, entries, "the withdrawal spending a holding created before the start was booked (Run returned %v)", err)
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe, "Run did not stop at the withdrawal spending a holding created before the start")
	require.Equal(t, start+1, pe.Offset)
	require.ErrorContains(t, err, old[0].ContractID)
	require.ErrorContains(t, err, "StartOffset")
}

// TestClassifyTreasurySpendsUnknownHolding classifies the treasury's own
// transfers (a withdrawal offer, a merge through the factory) that spend
// holdings the holding set does not know: a ParseError naming the
// holding, not an offer or merge whose amount and fee are made up.
func TestClassifyTreasurySpendsUnknownHolding(t *testing.T) {
	for name, make := range map[string]func(w *ledgertest.TokenWorld, cids []string) *ledger.Transaction{
		"offer": func(w *ledgertest.TokenWorld, _ []string) *ledger.Transaction {
			tx, _ := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "60", Reason: "wd-2", Fee: "1"})
			return tx
		},
		"merge": func(w *ledgertest.TokenWorld, cids []string) *ledger.Transaction {
			return w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: "150", InputHoldings: cids})
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := &ledgertest.TokenWorld{Sequence: true}
			w.Mint(alice, "500")
			w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "100", Reason: "acct-1"})
			w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "50", Reason: "acct-2"})
			var cids []string
			for _, h := range w.Holdings(treasury) {
				cids = append(cids, h.ContractID)
			}
			tx := ledgertest.TokenProjection(make(w, cids), treasury)
			entries, err := tokenstd.Classify(tx, treasury, tokenstd.NewHoldingSet())
			var pe *tokenstd.ParseError
			require.ErrorAs(t, err, &pe, "classified as %+v", entries)
			require.ErrorContains(t, err, cids[0])
		})
	}
}

// A merge of many inputs (more than the few the check scans for) is
// checked through a set: one input unknown among twelve is still a
// ParseError naming it, and with all twelve known the merge is booked.
func TestClassifyTreasuryMergeOfManyWithOneUnknown(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "5000")
	known, all := tokenstd.NewHoldingSet(), tokenstd.NewHoldingSet()
	for i := range 12 {
		dep := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"}), treasury)
		for j, set := range []*tokenstd.HoldingSet{known, all} {
			if j == 0 && i == 0 {
				continue // the first deposit came before ingestion started
			}
			entries, err := tokenstd.Classify(dep, treasury, set)
			require.NoError(t, err)
			set.Apply(entries)
		}
	}
	var cids []string
	for _, h := range w.Holdings(treasury) {
		cids = append(cids, h.ContractID)
	}
	require.Len(t, cids, 12)
	merge := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: "120", InputHoldings: cids}), treasury)

	entries, err := tokenstd.Classify(merge, treasury, known)
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe, "classified as %+v", entries)
	require.ErrorContains(t, err, cids[0])

	entries, err = tokenstd.Classify(merge, treasury, all)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	var archived int
	for _, e := range entries {
		archived += len(e.Archived)
	}
	require.Equal(t, 12, archived, "the merge spends all twelve: %+v", entries)
}
