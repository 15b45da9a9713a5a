package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The treasury pays withdrawal wd-1 (10 to alice) with a registry's own
// transfer choice (tx-kind transfer, sender the treasury, reason wd-1), and
// the same choice mints the treasury 15 (as Amulet's transfer does with the
// sender's reward coupons among its inputs): the treasury's net change is
// +5. The metadata is the treasury's own, not a depositor's: nothing was
// deposited. 1933aef makes any gain under a tx-kind transfer naming the
// treasury as sender a deposit from no one, for the account the reason
// names: here the withdrawal id wd-1, so the treasury's own 5 are credited
// to "wd-1" (a customer's account wherever withdrawal ids and account ids
// can coincide, deposit_unassigned for manual handling otherwise). It is
// the withdrawal wd-1.
func TestTxKindTransferFromTheTreasuryThatGains(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	m := view(w.Mint(treasury, "100"))
	pay := view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury, Choice: "Registry_Transfer"},
		w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Reason: "wd-1"}),
		w.MintOp(treasury, "15"))))
	editResult(t, pay, 0, nil, addField("meta", metadataValue(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: treasury, tokenstd.MetaReason: "wd-1"})))
	es := classifyAfter(t, pay, m)
	require.NotEmpty(t, es)
	var seen []string
	paid := false
	for _, e := range es {
		require.NotContains(t, []tokenstd.Kind{tokenstd.KindDeposit, tokenstd.KindDepositUnassigned}, e.Kind,
			"the treasury's own transfer (sender %s, reason wd-1) recorded as %s of %s for account %q", treasury, e.Kind, e.Amount, e.Account)
		seen = append(seen, string(e.Kind)+" "+e.Sender+"->"+e.Receiver+" transferred "+e.Transferred.String()+" fee "+e.Fee.String())
		if e.WithdrawalID != "wd-1" {
			continue
		}
		// The payment of wd-1: a withdrawal of what alice received (the
		// Reconciler compares it with the request), the gain beside it a
		// negative fee. Before f30d0ee: the treasury's merge/split with no
		// withdrawal id, and wd-1 would expire and be refunded though paid.
		paid = true
		require.Equal(t, tokenstd.KindWithdrawal, e.Kind)
		require.Equal(t, alice, e.Counterparty)
		require.Equal(t, "10", e.Transferred.String())
		require.Equal(t, "5", e.Amount.String(), "the treasury's net change")
		require.Equal(t, "-15", e.Fee.String())
	}
	require.True(t, paid, "the treasury's payment of wd-1 to alice is in no withdrawal entry; entries: %v", seen)
}

// The same with a smaller gain beside the payment: the treasury pays wd-1
// (10 to alice, 1 burned) and the choice mints it 5 (reward coupons among
// the inputs), a net change of −6. The withdrawal transferred what alice
// received, 10, not the treasury's loss less the burned amount (5): the
// Reconciler compares Transferred with the request, and the fee would be
// recorded as the burned 1 where the operation cost the treasury −4.
func TestTxKindTransferFromTheTreasuryThatGainsLessThanItPays(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	m := view(w.Mint(treasury, "100"))
	pay := view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury, Choice: "Registry_Transfer"},
		w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Fee: "1", Reason: "wd-1"}),
		w.MintOp(treasury, "5"))))
	editResult(t, pay, 0, nil, addField("meta", metadataValue(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: treasury, tokenstd.MetaReason: "wd-1",
		tokenstd.MetaBurned: "1"})))
	es := classifyAfter(t, pay, m)
	require.Len(t, es, 1, "%+v", es)
	e := es[0]
	require.Equal(t, tokenstd.KindWithdrawal, e.Kind)
	require.Equal(t, "wd-1", e.WithdrawalID)
	require.Equal(t, alice, e.Counterparty)
	require.Equal(t, "-6", e.Amount.String(), "the treasury's net change")
	require.Equal(t, "10", e.Transferred.String(), "alice received 10")
	require.Equal(t, "-4", e.Fee.String())
}

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
