package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// Mallory's withdrawal wd-1 is submitted. She exercises a choice of her own
// template named TransferFactory_Transfer (not through the TransferFactory
// interface, whose controller would be the sender), its argument saying
// the treasury sends her 60 Amulet for wd-1 and its result
// TransferInstructionResult_Failed, with the treasury an observer. The
// treasury did not act and lost nothing: the withdrawal must stay
// submitted, unrefunded, and complete by its real transfer.
func TestTransferFactoryChoiceOfMallorysMovesNoWithdrawal(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	w := e.submittedToMallory()

	fw := &ledgertest.TokenWorld{Sequence: true}
	fw.Mint(treasury, "1000")
	offer, icid := fw.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: mallory, Amount: "60", Reason: w.ID})
	x := *(offer.Events[0].(*ledger.ExercisedEvent))
	require.Equal(t, "TransferFactory_Transfer", x.Choice)
	x.ContractID, x.InterfaceID, x.ImplementedInterfaces = "00malloryFACTORY", nil, nil
	x.TemplateID = ledger.Identifier{PackageID: "mallorypkg", ModuleName: "Mallory", EntityName: "Factory"}
	x.ActingParties, x.WitnessParties, x.Consuming = []string{mallory}, []string{treasury}, true
	x.NodeID, x.LastDescendantNodeID = 0, 0
	x.ExerciseResult = fw.Reject(icid).Events[0].(*ledger.ExercisedEvent).ExerciseResult // Failed

	require.NoError(t, e.run(e.batch(ledgertest.DefaultStartTime, e.mallorysTx(&x))), "mallory's choice halted ingestion")
	e.requireUnmovedThenCompletes(w, "mallory's own choice")
}
