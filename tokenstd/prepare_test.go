package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// handlePrepared is historyBundle.handle with each batch carrying, for each
// transaction, what hint returns for it.
func (b *historyBundle) handlePrepared(t *testing.T, h ingest.Handler, list []*ledger.Transaction, n int, hint func(i int) any) {
	t.Helper()
	for start := 0; start < len(list); start += n {
		end := min(start+n, len(list))
		tx, err := b.db.BeginTxx(b.ctx, nil)
		require.NoError(t, err)
		batch := &ingest.Batch{Transactions: list[start:end], FromOffset: list[start].Offset - 1, ToOffset: list[end-1].Offset}
		at := map[*ledger.Transaction]int{}
		for i := start; i < end; i++ {
			at[list[i]] = i
		}
		batch = batch.WithPrepared(func(t *ledger.Transaction) any { return hint(at[t]) })
		require.NoError(t, h.HandleBatch(b.ctx, tx, batch))
		require.NoError(t, tx.Commit())
	}
}

// TestTokenHistoryPreparedEqualsUnprepared: the History handler writes the
// same rows and credits the same deposits whether its batches carry what
// Prepare made of their transactions, carry results made for other
// transactions, or carry nothing, in batches of any size.
func TestTokenHistoryPreparedEqualsUnprepared(t *testing.T) {
	_, view := demo(t, 250)
	cfg := tokenstd.Config{Credit: creditor("acct-unknown")}

	plain := setupHistory(t)
	require.NoError(t, plain.handle(t, newHistory(t, cfg), view, 25))
	want := plain.snapshot(t)

	for _, n := range []int{1, 25, len(view)} {
		b := setupHistory(t)
		h := newHistory(t, cfg)
		b.handlePrepared(t, h, view, n, func(i int) any { return h.Prepare(view[i]) })
		require.Equal(t, want, b.snapshot(t), "prepared, batches of %d", n)
	}

	// Results of the wrong transactions, and of another treasury, are not used.
	b := setupHistory(t)
	h := newHistory(t, cfg)
	other := newHistory(t, tokenstd.Config{Treasury: "someone::1220"})
	b.handlePrepared(t, h, view, 25, func(i int) any {
		switch i % 3 {
		case 0:
			return h.Prepare(view[(i+1)%len(view)])
		case 1:
			return other.Prepare(view[i])
		}
		return "not a result of Prepare"
	})
	require.Equal(t, want, b.snapshot(t), "hints for other transactions")
}
