package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// mallory is a user of the exchange who writes her own Daml templates.
const mallory = "mallory::1220ff"

// forgedInstruction returns a contract mallory creates herself implementing
// TransferInstruction, contract id cid, whose view is that of the genuine
// offer of spec (built in a TokenWorld of its own), signed by her alone
// with the treasury as observer, and her TransferInstruction_Reject of it
// (she is the receiver the view names, so the interface makes her its
// controller) whose implementation does nothing.
func forgedInstruction(t *testing.T, spec ledgertest.TransferSpec, cid string) (*ledger.CreatedEvent, *ledger.ExercisedEvent) {
	t.Helper()
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(spec.Sender, "1000")
	offer, icid := w.Offer(spec)
	var c ledger.CreatedEvent
	for _, ev := range offer.Events {
		if x, ok := ev.(*ledger.CreatedEvent); ok && x.ContractID == icid {
			c = *x
		}
	}
	require.Equal(t, icid, c.ContractID)
	tmpl := ledger.Identifier{PackageID: "mallorypkg", ModuleName: "Mallory", EntityName: "Instruction"}
	c.ContractID, c.NodeID, c.TemplateID = cid, 0, tmpl
	c.Signatories, c.Observers, c.WitnessParties = []string{mallory}, []string{treasury}, []string{treasury}
	x := *(w.Reject(icid).Events[0].(*ledger.ExercisedEvent))
	x.ContractID, x.TemplateID, x.NodeID, x.LastDescendantNodeID = cid, tmpl, 0, 0
	x.WitnessParties = []string{treasury}
	return &c, &x
}

// submittedToMallory is mallory's withdrawal wd-1 of 60 Amulet to her own
// party, submitted: its transfer in flight.
func (e *env) submittedToMallory() *withdrawal.Withdrawal {
	e.t.Helper()
	cids := e.mint("80")
	r := e.request("wd-1", "60", cids...)
	r.Receiver = mallory
	w := e.create(r)
	_, err := e.store.MarkSubmitted(e.ctx, w.ID)
	require.NoError(e.t, err)
	return w
}

// requireUnmovedThenCompletes checks that what mallory did (what, for the
// messages) left w submitted and unrefunded, and that the real offer, once
// she accepts it, completes it with no refund.
func (e *env) requireUnmovedThenCompletes(w *withdrawal.Withdrawal, what string) {
	t := e.t
	t.Helper()
	got := e.get(w.ID)
	require.Equal(t, withdrawal.StatusSubmitted, got.Status, "%s moved the withdrawal (update %s, instruction %s)", what, got.UpdateID, got.InstructionCID)
	require.Empty(t, refunds(t, e.db), "%s refunded the withdrawal while its transfer is in flight", what)
	offer, icid := e.offer(w, "0.5")
	e.apply(offer)
	e.apply(e.world.Accept(icid))
	require.Equal(t, withdrawal.StatusCompleted, e.get(w.ID).Status)
	require.Empty(t, refunds(t, e.db))
}

// mallorysTx is the next transaction of e's world, holding only ev.
func (e *env) mallorysTx(ev ledger.Event) *ledger.Transaction {
	tx := e.world.Tx(e.world.PreapprovalOp(mallory))
	switch x := ev.(type) {
	case *ledger.CreatedEvent:
		x.Offset = tx.Offset
	case *ledger.ExercisedEvent:
		x.Offset = tx.Offset
	}
	tx.Events = []ledger.Event{ev}
	return tx
}

// Mallory asks to withdraw 60 Amulet to her party; the exchange submits
// the transfer (an offer, in flight). Meanwhile she creates her own
// contract implementing TransferInstruction whose view says the treasury
// offers her 60 Amulet for wd-1, the treasury an observer, and then ends
// it: rejecting it or with a choice of her own. The contract is no
// instruction of the treasury's (neither the treasury nor the DSO signed
// it; it locks nothing): the withdrawal must stay submitted, unrefunded,
// and complete when she accepts the real offer. Taken for the treasury's,
// it refunds her 61 while the real transfer pays her 60: paid twice.
func TestForgedInstructionMovesNoWithdrawal(t *testing.T) {
	for _, end := range []string{"TransferInstruction_Reject", "Mallory_Cancel"} {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			w := e.submittedToMallory()

			create, x := forgedInstruction(t, ledgertest.TransferSpec{Sender: treasury, Receiver: mallory, Amount: "60", Reason: w.ID},
				"00malloryINSTR")
			if end != x.Choice {
				x.Choice, x.InterfaceID, x.ImplementedInterfaces = end, nil, nil
				x.ChoiceArgument, x.ExerciseResult, x.Consuming = ledger.Record(nil), ledger.Unit(), true
			}
			require.NoError(t, e.run(e.batch(ledgertest.DefaultStartTime, e.mallorysTx(create))), "mallory's contract halted ingestion")
			require.NoError(t, e.run(e.batch(ledgertest.DefaultStartTime, e.mallorysTx(x))), "mallory's contract halted ingestion")
			e.requireUnmovedThenCompletes(w, "mallory's own contract")
		})
	}
}
