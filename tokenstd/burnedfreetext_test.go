package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// alice offers 25 to the treasury (acct-2), then cancels her offer with a
// choice of the registry's own on the instruction (not the standard's
// TransferInstruction_Withdraw), whose extraArgs.meta she writes, with a
// burned value that is not a number. The burned amount of an instruction's
// ending is not used, and the registry's word is its result's metadata:
// her free text must not stop the treasury's ingestion (the same text in
// the standard choice's extraArgs does not). The instruction is closed, the
// offer no longer pending.
func TestSendersBurnedTextInARegistryChoiceDoesNotHaltIngestion(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "60")
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-2"})
	withdraw := view(w.Withdraw(cid))
	bad := ledger.TextMapOf(map[string]string{tokenstd.MetaBurned: "all of it"})

	// Through the standard choice: read.
	std := cloneTx(withdraw)
	editArg(t, std, 0, []string{"extraArgs", "meta", "values"}, setTo(bad))
	es := classifyAfter(t, std, view(offer))
	require.Len(t, es, 1)
	require.Equal(t, tokenstd.KindWithdrawn, es[0].Kind)

	// Through the registry's own choice: the same.
	cancel := asRegistryChoice(withdraw, "TransferOffer_Cancel")
	editArg(t, cancel, 0, []string{"extraArgs", "meta", "values"}, setTo(bad))
	b := setupHistory(t)
	h := newHistory(t, tokenstd.Config{Credit: creditor()})
	err := b.handle(t, h, []*ledger.Transaction{view(offer), cancel}, 1)
	require.NoError(t, err, "alice's free text in her own choice's extraArgs stopped ingestion")
	pending, err := tokenstd.PendingInstructions(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	require.Empty(t, pending)
}
