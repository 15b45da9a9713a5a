package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// Amulet's own transfer choices (AmuletRules_Transfer's TransferResult,
// TransferPreapproval_Send, AmuletRules_BuyMemberTraffic, the faucet's tap)
// carry their token standard metadata as meta : Optional Metadata, in the
// result and, for TransferPreapproval_SendV2, in the argument. alice pays
// the treasury 10 for acct-1 through such a choice (a direct transfer, not
// TransferFactory_Transfer): tx-kind transfer, sender alice and the reason
// are in Some(Metadata). The treasury gained 10 from alice for acct-1: a
// deposit, credited to acct-1.
func TestDirectTransferWithOptionalMetadataIsADeposit(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10"}), treasury)
	tx = asRegistryChoice(tx, "TransferPreapproval_Send")
	editResult(t, tx, 0, []string{"meta"}, setTo(ledger.Some(metadataValue(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: alice, tokenstd.MetaReason: "acct-1"}))))

	es, err := tokenstd.Classify(tx, treasury, nil)
	require.NoError(t, err)
	require.Len(t, es, 1, "%+v", es)
	e := es[0]
	requireDecimal(t, "10", e.Amount)
	require.Equal(t, tokenstd.KindDeposit, e.Kind, "the treasury gained %s from alice for acct-1, recorded as %s (tx-kind %q)", e.Amount, e.Kind, e.TxKind)
	require.Equal(t, "acct-1", e.Account)
	require.Equal(t, alice, e.Counterparty)
}

// The same withdrawal side: the treasury pays wd-1 (10 to alice, 1 burned)
// through a registry's own choice whose result says so in Some(Metadata).
// It is the withdrawal wd-1, not a change of the treasury's holdings that
// no operation explains (which would leave wd-1 to expire and be refunded
// though paid).
func TestDirectTransferFromTheTreasuryWithOptionalMetadataIsAWithdrawal(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	m := ledgertest.TokenProjection(w.Mint(treasury, "100"), treasury)
	tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Fee: "1"}), treasury)
	tx = asRegistryChoice(tx, "AmuletRules_Transfer")
	editResult(t, tx, 0, []string{"meta"}, setTo(ledger.Some(metadataValue(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: treasury, tokenstd.MetaReason: "wd-1",
		tokenstd.MetaBurned: "1"}))))

	es := classifyAfter(t, tx, m)
	require.Len(t, es, 1, "%+v", es)
	e := es[0]
	require.Equal(t, tokenstd.KindWithdrawal, e.Kind, "the treasury paid wd-1, recorded as %s (tx-kind %q)", e.Kind, e.TxKind)
	require.Equal(t, "wd-1", e.WithdrawalID)
	requireDecimal(t, "-11", e.Amount)
	requireDecimal(t, "10", e.Transferred)
	requireDecimal(t, "1", e.Fee)
}

// None is no metadata, as an absent field is.
func TestOptionalMetadataNoneIsNoMetadata(t *testing.T) {
	x := &ledger.ExercisedEvent{Choice: "AmuletRules_Transfer",
		ChoiceArgument: ledger.Record(nil, ledger.F("meta", ledger.None())),
		ExerciseResult: ledger.Record(nil, ledger.F("meta", ledger.None()))}
	m, err := tokenstd.MergedMetadata(x)
	require.NoError(t, err)
	require.Nil(t, m)
	x.ExerciseResult = ledger.Record(nil, ledger.F("meta", ledger.Some(metadataValue(map[string]string{"k": "v"}))))
	m, err = tokenstd.MergedMetadata(x)
	require.NoError(t, err)
	require.Equal(t, tokenstd.Metadata{"k": "v"}, m)
}
