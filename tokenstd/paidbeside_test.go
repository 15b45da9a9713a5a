package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The registry settles two of the treasury's outgoing instructions, wd-1
// (5 to bob) and wd-2 (10 to alice), in one choice of its own. Its choice
// on each instruction unlocks the treasury's locked funds (sub-events: the
// treasury gets its holding back inside it); wd-1 stops there, returned,
// and wd-2 is paid beside it, by a transfer of 10 from the treasury to
// alice. The treasury lost 10, alice got 10: wd-2 completed, wd-1 failed,
// as the classification said before receivers were looked for only below
// the choice on their instruction. Now alice's holding, beside wd-2's
// choice, pays neither: neither of two candidates is seen paid, and the
// settlement is a ParseError (ingestion stops under Halt).
func TestRegistrySettlementPayingBesideTheUnlockingChoice(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := w.Mint(treasury, "100")
	offer1, cid1 := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "5", Reason: "wd-1"})
	offer2, cid2 := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Reason: "wd-2"})
	settled := asRegistrySettlement(t, view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury},
		w.WithdrawOp(cid1), w.WithdrawOp(cid2),
		w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10"})))), w.Instrument().Admin, 2)
	set := tokenstd.NewHoldingSet()
	for _, tx := range []*ledger.Transaction{view(mint), view(offer1), view(offer2)} {
		es, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(es)
	}
	es, err := tokenstd.Classify(settled, treasury, set)
	require.NoError(t, err, "wd-2 paid to alice beside its unlocking choice, wd-1 returned")
	byCID := map[string]tokenstd.Entry{}
	for _, e := range es {
		byCID[e.InstructionCID] = e
	}
	require.Equal(t, tokenstd.KindWithdrawal, byCID[cid2].Kind, "wd-2, paid to alice: %+v", es)
	require.Equal(t, "wd-2", byCID[cid2].WithdrawalID)
	require.Equal(t, alice, byCID[cid2].Receiver)
	requireDecimal(t, "10", byCID[cid2].Transferred)
	require.NotEqual(t, tokenstd.KindWithdrawal, byCID[cid1].Kind, "wd-1, returned to the treasury: %+v", byCID[cid1])
}
