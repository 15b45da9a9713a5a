package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// forgedAccept is the TransferInstruction_Accept, through the interface, of
// a contract cid the forger made implementing TransferInstruction with the
// view of a genuine offer of spec (she is its receiver, so the interface
// makes her the controller): her implementation does nothing and returns
// what a registry would, TransferInstructionResult_Completed.
func forgedAccept(t testing.TB, spec ledgertest.TransferSpec, cid string) *ledger.ExercisedEvent {
	t.Helper()
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(spec.Sender, "1000")
	_, icid := w.Offer(spec)
	x := *(w.Accept(icid).Events[0].(*ledger.ExercisedEvent))
	x.ContractID, x.TemplateID, x.NodeID, x.LastDescendantNodeID = cid, forgedTemplate, 0, 0
	x.WitnessParties = []string{treasury}
	return &x
}

// The instruction a standard choice is exercised on may be one the
// classifier never took for the treasury's (mallory's own contract is
// ignored since its view is not signed). The classifier then reconstructs
// the instruction from the choice, and took its sender from the choice's
// merged metadata: the extraArgs.meta of whoever exercised it and the
// result's meta of the contract's own implementation, both mallory's free
// text here. Saying "sender = treasury, reason = wd-1" made her no-op
// choice an outcome of withdrawal wd-1: failed (refunded while its transfer
// is in flight), completed (with nothing paid) or rejected. The treasury
// neither acted nor lost a holding: it is not the sender.
func TestChoiceOnAnUnknownInstructionNamingTheTreasuryAsSenderInItsMetadata(t *testing.T) {
	spec := ledgertest.TransferSpec{Sender: treasury, Receiver: forger, Amount: "60", Reason: "wd-1"}
	create, reject := forgedOffer(t, spec, "00forgedINSTR")
	lie := setTo(ledger.TextMapOf(map[string]string{tokenstd.MetaSender: treasury, tokenstd.MetaReason: "wd-1"}))

	completed := forgedAccept(t, spec, "00forgedINSTR")
	acceptFailed := *completed
	acceptFailed.ExerciseResult = reject.ExerciseResult // TransferInstructionResult_Failed
	for name, x := range map[string]*ledger.ExercisedEvent{
		"accept, failed": &acceptFailed, "accept, completed": completed, "reject": reject,
	} {
		t.Run(name, func(t *testing.T) {
			tx := cloneTx(forgedTx(2, x))
			editResult(t, tx, 0, []string{"meta", "values"}, lie)
			set := tokenstd.NewHoldingSet()
			es, err := tokenstd.Classify(forgedTx(1, create), treasury, set)
			require.NoError(t, err)
			set.Apply(es)
			es, err = tokenstd.Classify(tx, treasury, set)
			require.NoError(t, err, "a forged contract must not halt ingestion")
			requireNotTheTreasurys(t, es)
		})
	}
}
