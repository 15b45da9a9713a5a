package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

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
		require.NoError(t, b.handlePrepared(t, h, view, n, func(i int) any { return h.Prepare(view[i]) }))
		require.Equal(t, want, b.snapshot(t), "prepared, batches of %d", n)
	}

	// Results of the wrong transactions, and of another treasury, are not used.
	b := setupHistory(t)
	h := newHistory(t, cfg)
	other := newHistory(t, tokenstd.Config{Treasury: "someone::1220"})
	require.NoError(t, b.handlePrepared(t, h, view, 25, func(i int) any {
		switch i % 3 {
		case 0:
			return h.Prepare(view[(i+1)%len(view)])
		case 1:
			return other.Prepare(view[i])
		}
		return "not a result of Prepare"
	}))
	require.Equal(t, want, b.snapshot(t), "hints for other transactions")
}
