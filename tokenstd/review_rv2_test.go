package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A registry's own transfer choice (tx-kind transfer, sender the
// treasury, reason wd-1) that pays 40 Amulet to alice and takes a fee of
// 0.5 USDX, a second instrument, from the treasury. Only the Amulet entry
// is the withdrawal; the USDX loss is a fee in a second instrument, which
// the package records as `other` (as it does through
// TransferFactory_Transfer). The old code made it a second withdrawal
// with the same withdrawal id, "transferring" 0.5 USDX to alice, who got
// no USDX: the reconciler then sees two outcomes for wd-1.
func TestReviewRv2TxKindTransferFeeInSecondInstrumentIsNotAWithdrawal(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	usd := ledgertest.TokenInstrument{Admin: "registry::1220r9", ID: "USDX"}
	for _, sender := range []string{treasury, ""} {
		w := &ledgertest.TokenWorld{Sequence: true}
		m1 := view(w.Mint(treasury, "100"))
		m2 := view(w.Mint(treasury, "10", usd))
		pay := view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury, Choice: "Registry_Transfer"},
			w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "40", Reason: "wd-1"}),
			w.BurnOp(treasury, "0.5", usd))))
		meta := map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaReason: "wd-1"}
		if sender != "" {
			meta[tokenstd.MetaSender] = sender
		}
		editResult(t, pay, 0, nil, addField("meta", metadataValue(meta)))
		es := classifyAfter(t, pay, m1, m2)
		require.Len(t, es, 2, "sender %q: %+v", sender, es)
		var withdrawals int
		for _, e := range es {
			switch e.Instrument.ID {
			case "Amulet":
				require.Equal(t, tokenstd.KindWithdrawal, e.Kind, "sender %q: %+v", sender, e)
				require.Equal(t, "wd-1", e.WithdrawalID)
				requireDecimal(t, "40", e.Transferred)
				require.Equal(t, alice, e.Receiver)
				withdrawals++
			case "USDX":
				require.Equal(t, tokenstd.KindOther, e.Kind,
					"sender %q: the USDX fee became %s of %s to %q, withdrawal id %q", sender, e.Kind, e.Transferred, e.Receiver, e.WithdrawalID)
				require.Empty(t, e.WithdrawalID)
				requireDecimal(t, "-0.5", e.Amount)
			}
		}
		require.Equal(t, 1, withdrawals)
	}
}

// An exercise whose last descendant lies past that of its enclosing
// exercise contradicts the tree the node ids describe. The old code took
// it as it came: the transfer at node 0 (made to end at node 2) lost its
// treasury holding at node 3 to a loose change, so the deposit of 40 for
// acct-1 became two `other` entries, silently, instead of a ParseError
// naming the transaction and node.
func TestReviewRv2ImproperlyNestedExerciseIsAParseError(t *testing.T) {
	tx := cloneTx(badBase(t))
	tx.Events[0].(*ledger.ExercisedEvent).LastDescendantNodeID = 2 // node 1 still claims nodes 2..4
	es, err := tokenstd.Classify(tx, treasury, nil)
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe, "entries: %+v", es)
	require.Equal(t, tx.UpdateID, pe.UpdateID)
	require.Equal(t, tx.Offset, pe.Offset)
	require.Equal(t, int32(1), pe.NodeID)
}
