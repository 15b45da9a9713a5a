package tokenstd_test

import (
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// An instrument's admin can send the treasury a holding whose instrument
// id is megabytes of text; one with a NUL byte is refused as unstorable.
// The error, which is logged, returned by Run and stored in the review
// row, must not quote the whole text.
func TestSecUnstorableLongTextErrorIsBounded(t *testing.T) {
	b := setupHistory(t)
	w := &ledgertest.TokenWorld{Sequence: true}
	inst := w.Instrument("acct-1" + strings.Repeat("x", 1<<20) + "\x00")
	w.Mint(alice, "100", inst)
	tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1", Instrument: inst}), treasury)
	err := b.handle(t, newHistory(t, tokenstd.Config{}), []*ledger.Transaction{tx}, 1)
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, err.Error(), "not storable")
	require.Contains(t, err.Error(), tx.UpdateID)
	t.Logf("%s", err)
	require.Less(t, len(err.Error()), 1000, "error quotes %d bytes", len(err.Error()))
}
