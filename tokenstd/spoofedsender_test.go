package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A registry's own transfer choice (tx-kind transfer, not
// TransferFactory_Transfer) whose result names no sender pays alice's 10
// to the treasury for acct-1. The sender metadata the classifier reads is
// then the merged one, which includes the transfer.meta alice wrote, and
// alice (by mistake or not) wrote the treasury as sender. The treasury
// gained 10 from someone else: a deposit, or at least an unassigned one
// for manual handling. The classifier records a merge_split with a fee of
// −10 instead: the deposit is neither credited nor kept for review, and
// the books show a negative fee.
func TestTxKindTransferGainWithTheTreasuryAsSenderIsADeposit(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1",
		Meta: map[string]string{tokenstd.MetaSender: treasury}}), treasury)
	tx = asRegistryChoice(tx, "Registry_Send")
	editResult(t, tx, 0, []string{"meta"}, setTo(metadataValue(map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer})))

	es, err := tokenstd.Classify(tx, treasury, nil)
	require.NoError(t, err)
	require.Len(t, es, 1, "%+v", es)
	e := es[0]
	requireDecimal(t, "10", e.Amount)
	require.Contains(t, []tokenstd.Kind{tokenstd.KindDeposit, tokenstd.KindDepositUnassigned}, e.Kind,
		"the treasury gained %s from alice; recorded as %s with fee %s", e.Amount, e.Kind, e.Fee)
	require.False(t, e.Fee.IsNegative(), "negative fee %s", e.Fee)
}
