package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The treasury's transfer instruction to itself (a withdrawal paying the
// exchange's own party, its reason wd-1 in the factory call's extra
// metadata) advanced by a registry's choice on its own contract, which
// archives it and creates its successor. An offer to itself carries no
// withdrawal id, as what ends it does not; the successor's offer, which
// takes the reason of the instruction it replaces, must not either, or
// wd-1 goes pending acceptance again and stays so for good.
func TestAdvancedSelfOfferCarriesNoWithdrawalID(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := view(w.Mint(treasury, "100"))
	offer, a := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: "25",
		ExtraMeta: map[string]string{tokenstd.MetaReason: "wd-1"}})
	first := classifyAfter(t, view(offer), mint)
	var offered bool
	for _, e := range first {
		if e.Kind == tokenstd.KindOfferOut {
			offered = true
			require.Empty(t, e.WithdrawalID, "the offer to itself: %+v", e)
		}
	}
	require.True(t, offered, "%+v", first)

	advance := registryAdvance(t, w, offer, a)

	es := classifyAfter(t, advance, mint, view(offer))
	require.Len(t, es, 1, "%+v", es)
	require.Equal(t, tokenstd.KindOfferOut, es[0].Kind)
	require.Equal(t, a, es[0].Instruction.Replaces)
	require.Equal(t, "wd-1", es[0].Reason)
	require.Empty(t, es[0].WithdrawalID, "the successor of the offer to itself names a withdrawal: %+v", es[0])
}
