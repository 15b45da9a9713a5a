package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// Mallory's withdrawal wd-1 is submitted (its offer in flight). She creates
// her own contract implementing TransferInstruction, receiver herself (the
// classifier ignores it: not signed by the treasury), and exercises
// TransferInstruction_Accept on it through the interface, as its receiver:
// her implementation does nothing and returns
// TransferInstructionResult_Failed with the metadata "sender = treasury,
// reason = wd-1". The treasury neither acted nor lost a holding: the
// withdrawal must stay submitted, unrefunded.
func TestForgedMetadataSenderMovesNoWithdrawal(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	w := e.submittedToMallory()

	spec := ledgertest.TransferSpec{Sender: treasury, Receiver: mallory, Amount: "60", Reason: w.ID}
	create, reject := forgedInstruction(t, spec, "00malloryINSTR")
	fw := &ledgertest.TokenWorld{Sequence: true}
	fw.Mint(treasury, "1000")
	_, icid := fw.Offer(spec)
	accept := *(fw.Accept(icid).Events[0].(*ledger.ExercisedEvent))
	accept.ContractID, accept.TemplateID, accept.NodeID, accept.LastDescendantNodeID = create.ContractID, create.TemplateID, 0, 0
	accept.WitnessParties = []string{treasury}
	resID, ok := reject.ExerciseResult.TypeID()
	require.True(t, ok)
	out, err := reject.ExerciseResult.Get("output") // TransferInstructionResult_Failed
	require.NoError(t, err)
	meta, err := reject.ExerciseResult.Get("meta")
	require.NoError(t, err)
	metaID, ok := meta.TypeID()
	require.True(t, ok)
	accept.ExerciseResult = ledger.Record(&resID, ledger.F("output", out), ledger.F("senderChangeCids", ledger.List()),
		ledger.F("meta", ledger.Record(&metaID, ledger.F("values", ledger.TextMapOf(map[string]string{
			tokenstd.MetaSender: treasury, tokenstd.MetaReason: w.ID})))))

	require.NoError(t, e.run(e.batch(ledgertest.DefaultStartTime, e.mallorysTx(create))))
	require.NoError(t, e.run(e.batch(ledgertest.DefaultStartTime, e.mallorysTx(&accept))), "mallory's contract halted ingestion")
	e.requireUnmovedThenCompletes(w, "mallory's no-op choice")
}
