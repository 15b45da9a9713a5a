package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The classifier reads a choice named TransferFactory_Transfer exercised
// without an interface as the standard one, and took its argument's
// transfer.sender at its word. Through the TransferFactory interface the
// sender is the choice's controller, so the treasury would have to act;
// but any template may have a choice of that name, argument and result.
// Here mallory exercises such a choice of her own contract (the treasury an
// observer), saying the treasury sends her 60 Amulet for wd-1, and returns
// Failed (the withdrawal refunded while its transfer is in flight),
// Completed (completed, nothing paid) or Pending on a contract id she names
// (pending on it, hers to end). The treasury did not act and lost nothing:
// no outcome of wd-1.
func TestTransferFactoryChoiceTheTreasuryDidNotExercise(t *testing.T) {
	spec := ledgertest.TransferSpec{Sender: treasury, Receiver: forger, Amount: "60", Reason: "wd-1"}
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(treasury, "1000")
	pay := w.Transfer(spec)
	offer, icid := w.Offer(spec)
	failed := w.Reject(icid).Events[0].(*ledger.ExercisedEvent).ExerciseResult

	own := func(root ledger.Event, result ...ledger.Value) *ledger.ExercisedEvent {
		x := *(root.(*ledger.ExercisedEvent))
		require.Equal(t, tokenstd.ChoiceTransferFactoryTransfer, x.Choice)
		x.ContractID, x.TemplateID, x.InterfaceID, x.ImplementedInterfaces = "00malloryFACTORY", forgedTemplate, nil, nil
		x.ActingParties, x.WitnessParties, x.Consuming = []string{forger}, []string{treasury}, true
		x.NodeID, x.LastDescendantNodeID = 0, 0
		if len(result) > 0 {
			x.ExerciseResult = result[0]
		}
		return &x
	}
	for name, x := range map[string]*ledger.ExercisedEvent{
		"failed":    own(offer.Events[0], failed),
		"completed": own(pay.Events[0]),
		"pending":   own(offer.Events[0]),
	} {
		t.Run(name, func(t *testing.T) {
			es, err := tokenstd.Classify(forgedTx(1, x), treasury, tokenstd.NewHoldingSet())
			require.NoError(t, err, "a forged contract must not halt ingestion")
			requireNotTheTreasurys(t, es)
		})
	}
}
