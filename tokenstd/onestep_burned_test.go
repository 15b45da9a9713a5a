package tokenstd_test

import (
	"errors"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The burned metadata is an amount burned: never negative. The treasury
// pays wd-1 (10 to alice, 1 burned) through a registry's own transfer
// choice whose result says burned = -1. Taken as it is, the withdrawal
// "transferred" 12 (the loss of 11 less -1) at a fee of -1, though alice
// got 10: a negative burned amount is malformed input, a ParseError naming
// the transaction, like a burned amount that is not a number.
func TestNegativeBurnedAmountIsAParseError(t *testing.T) {
	for _, burned := range []string{"-1", "0.5 CC"} {
		t.Run(burned, func(t *testing.T) { requireBurnedIsAParseError(t, burned) })
	}
}

// requireBurnedIsAParseError checks that the treasury's payment whose
// registry says burned is a ParseError.
func requireBurnedIsAParseError(t *testing.T, burned string) {
	w := &ledgertest.TokenWorld{Sequence: true}
	m := ledgertest.TokenProjection(w.Mint(treasury, "100"), treasury)
	pay := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Fee: "1"}), treasury)
	reg := asRegistryChoice(pay, "Registry_Transfer")
	editResult(t, reg, 0, []string{"meta"}, setTo(metadataValue(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: treasury, tokenstd.MetaReason: "wd-1",
		tokenstd.MetaBurned: burned})))
	std := cloneTx(pay)
	editResult(t, std, 0, []string{"meta", "values"}, setTo(ledger.TextMapOf(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: treasury, tokenstd.MetaBurned: burned})))

	for name, tx := range map[string]*ledger.Transaction{"registry choice": reg, "TransferFactory_Transfer": std} {
		t.Run(name, func(t *testing.T) {
			set := tokenstd.NewHoldingSet()
			es, err := tokenstd.Classify(m, treasury, set)
			require.NoError(t, err)
			set.Apply(es)
			es, err = tokenstd.Classify(tx, treasury, set)
			var pe *tokenstd.ParseError
			require.True(t, errors.As(err, &pe), "burned %s accepted: error %v, entries %+v", burned, err, es)
			require.Equal(t, tx.UpdateID, pe.UpdateID)
			require.Equal(t, tx.Offset, pe.Offset)
			require.Contains(t, err.Error(), tokenstd.MetaBurned)
			require.Nil(t, es)
		})
	}
}
