package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The treasury pays withdrawal wd-1 (10 to alice, 1 burned) with a
// registry's own transfer choice (tx-kind transfer, sender the treasury,
// reason wd-1), and the same choice passes on bob's payment of 5 to alice
// beside it (a registry moving other funds beside the treasury's
// transfer). The treasury lost 11: wd-1 transferred 10 with a fee of 1.
// 593dc0c/828983a take what alice received in the whole operation, 15,
// as wd-1's transfer whenever it exceeds the treasury's loss less the
// burned amount (meant for reward coupons among the treasury's inputs):
// wd-1 is booked as 15 transferred with a fee of -4, and the Reconciler
// reports a mismatch with the request of 10 (f1bf16f booked 10 and 1).
func TestTxKindTransferFromTheTreasuryBesideAnotherPaymentToItsReceiver(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	m := view(w.Mint(treasury, "100"))
	w.Mint(bob, "20")
	pay := view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury, Choice: "Registry_Transfer"},
		w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Fee: "1", Reason: "wd-1"}),
		w.TransferOp(ledgertest.TransferSpec{Sender: bob, Receiver: alice, Amount: "5"}))))
	editResult(t, pay, 0, nil, addField("meta", metadataValue(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: treasury, tokenstd.MetaReason: "wd-1",
		tokenstd.MetaBurned: "1"})))
	es := classifyAfter(t, pay, m)
	require.Len(t, es, 1, "%+v", es)
	e := es[0]
	require.Equal(t, tokenstd.KindWithdrawal, e.Kind)
	require.Equal(t, "wd-1", e.WithdrawalID)
	require.Equal(t, alice, e.Counterparty)
	require.Equal(t, "-11", e.Amount.String(), "the treasury's net change")
	require.Equal(t, "10", e.Transferred.String(), "the treasury sent alice 10; bob sent her the other 5")
	require.Equal(t, "1", e.Fee.String())
}
