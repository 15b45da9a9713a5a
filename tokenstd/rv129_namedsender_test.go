package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A registry settles a trade in one choice of its own (tx-kind transfer),
// its metadata naming alice, who proposed the trade, as the sender: the
// treasury's 5 Amulet go to alice. The treasury lost 5 to another party:
// that is no transfer to itself and its loss no fee, whoever the
// metadata names. It was booked as merge_split with a fee of 5, the
// exchange's own cost, as a merge of its own holdings would be.
func TestRV129LossToANamedSenderIsNoMergeSplit(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := view(w.Mint(treasury, "20"))
	pay := asRegistryChoice(view(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "5"})), "Registry_Settle")
	root := pay.Events[0].(*ledger.ExercisedEvent)
	root.ActingParties = []string{w.Instrument().Admin}
	root.ExerciseResult = ledger.Record(nil, ledger.F("meta", metadataValue(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: alice})))

	es := classifyAfter(t, pay, mint)
	require.Len(t, es, 1)
	e := es[0]
	requireDecimal(t, "-5", e.Amount)
	require.NotEqual(t, tokenstd.KindMergeSplit, e.Kind, "the treasury's 5 paid to alice booked as a transfer to itself with a fee: %+v", e)
	require.NotEqual(t, tokenstd.KindFee, e.Kind)
	require.NotEqual(t, tokenstd.KindDeposit, e.Kind)
	require.Equal(t, tokenstd.KindOther, e.Kind, "%+v", e)
	require.True(t, e.Fee.IsZero(), "fee %s", e.Fee)
}
