package tokenstd

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// TestPreparedHoldsOnlyWhereClassifyAgrees walks a scripted history with an
// in-memory holding set and checks, for every transaction, that the entries
// Prepare worked out are used exactly when they are what Classify returns
// against the set, and that both cases occur: deposits and incoming offers
// use them, withdrawals spending treasury holdings do not.
func TestPreparedHoldsOnlyWhereClassifyAgrees(t *testing.T) {
	const treasury = "treasury::1220aa"
	h, err := NewHistory(Config{Treasury: treasury})
	require.NoError(t, err)
	d := (&ledgertest.TokenWorld{Sequence: true}).DemoHistory(treasury, 200)
	set := NewHoldingSet()
	used, redone := map[Kind]int{}, map[Kind]int{}
	var prev *ledger.Transaction
	for _, full := range d.Transactions {
		tx := ledgertest.TokenProjection(full, treasury)
		if tx == nil {
			continue
		}
		want, err := h.classifier.Classify(tx, set)
		require.NoError(t, err)
		b := (&ingest.Batch{Transactions: []*ledger.Transaction{tx}}).WithPrepared(h.Prepare)
		got, ok := h.prepared(b, tx, set)
		if ok {
			require.Equal(t, want, got, "transaction %s", tx.UpdateID)
		}
		for _, e := range want {
			if ok {
				used[e.Kind]++
			} else {
				redone[e.Kind]++
			}
		}
		// A result made for another transaction is never used.
		if prev != nil {
			other := (&ingest.Batch{Transactions: []*ledger.Transaction{tx}}).WithPrepared(func(*ledger.Transaction) any { return h.Prepare(prev) })
			_, ok := h.prepared(other, tx, set)
			require.False(t, ok, "transaction %s with the prepared result of %s", tx.UpdateID, prev.UpdateID)
		}
		set.Apply(want)
		prev = tx
	}
	t.Logf("entries from prepared results: %v; classified again: %v", used, redone)
	require.Positive(t, used[KindDeposit])
	require.Positive(t, used[KindOfferIn])
	require.Positive(t, redone[KindWithdrawal])
	require.Zero(t, used[KindWithdrawal], "a withdrawal spends treasury holdings, which Prepare cannot know")
}
