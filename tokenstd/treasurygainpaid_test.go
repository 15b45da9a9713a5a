package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// TestTxKindTransferFromTheTreasuryThatGainsPaysTheWithdrawal: the case of
// TestTxKindTransferFromTheTreasuryThatGainsIsNotADeposit (the treasury pays
// wd-1, 10 to alice, and the same choice mints it 15). 6b14e43 stops
// crediting the gain as a deposit, but its default branch records the
// transfer as the treasury's own merge/split (T to T, Transferred 0, a
// negative fee, no WithdrawalID): alice's payment is in no entry, the
// Reconciler never completes wd-1 (outcomesOf skips entries without a
// WithdrawalID), and the withdrawal later expires and is refunded though it
// was paid.
func TestTxKindTransferFromTheTreasuryThatGainsPaysTheWithdrawal(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	m := view(w.Mint(treasury, "100"))
	pay := view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury, Choice: "Registry_Transfer"},
		w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Reason: "wd-1"}),
		w.MintOp(treasury, "15"))))
	editResult(t, pay, 0, nil, addField("meta", metadataValue(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: treasury, tokenstd.MetaReason: "wd-1"})))
	es := classifyAfter(t, pay, m)
	var ids []string
	for _, e := range es {
		if e.WithdrawalID == "wd-1" {
			require.Equal(t, tokenstd.KindWithdrawal, e.Kind)
			require.Equal(t, alice, e.Counterparty)
			require.Equal(t, "10", e.Transferred.String(), "what alice got, which the Reconciler compares with the request")
			require.Equal(t, "5", e.Amount.String(), "the treasury's net change")
			require.Equal(t, "-15", e.Fee.String(), "the treasury's gain beside the payment, as a negative fee")
			return
		}
		ids = append(ids, string(e.Kind)+" "+e.Sender+"->"+e.Receiver+" transferred "+e.Transferred.String()+" fee "+e.Fee.String())
	}
	t.Fatalf("the treasury's payment of wd-1 to alice is in no withdrawal entry; entries: %v", ids)
}
