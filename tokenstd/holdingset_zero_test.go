package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// TestZeroHoldingSetIsEmpty: a HoldingSet declared as Go declares any
// other value (var set tokenstd.HoldingSet, or &tokenstd.HoldingSet{}) is
// an empty set, as NewHoldingSet() is. Its lookups answered, but Apply
// and AddInstruction panicked (assignment to entry in nil map) at the
// first deposit.
func TestZeroHoldingSetIsEmpty(t *testing.T) {
	const treasury = "treasury::1220zero"
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint("alice::1220a1", "100")
	deposit := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: "60", Reason: "acct-42"}), treasury)
	require.NotNil(t, deposit)

	var set tokenstd.HoldingSet
	entries, err := tokenstd.Classify(deposit, treasury, &set)
	require.NoError(t, err)
	require.NotPanics(t, func() { set.Apply(entries) }, "Apply on the zero HoldingSet")
	require.Len(t, set.Live(), 1)
	for inst, b := range set.Balances() {
		require.Equal(t, "60", b.String(), "balance of %v", inst)
	}

	var other tokenstd.HoldingSet
	require.NotPanics(t, func() { other.AddInstruction(tokenstd.Instruction{ContractID: "00instr"}) }, "AddInstruction on the zero HoldingSet")
	_, found, err := other.LookupInstruction("00instr")
	require.NoError(t, err)
	require.True(t, found)
}
