package tokenstd_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// forger is a party that writes its own Daml templates implementing the
// token standard's interfaces.
const forger = "mallory::1220ff"

// forgedTemplate is the forger's own template.
var forgedTemplate = ledger.Identifier{PackageID: "mallorypkg", ModuleName: "Mallory", EntityName: "Instruction"}

// forgedOffer returns a contract the forger creates herself implementing
// TransferInstruction, with contract id cid: its view is that of a
// genuine offer of spec (built by a TokenWorld of its own), but the forger
// alone signs it and the treasury is an observer, which needs no consent.
// It also returns the forger's TransferInstruction_Reject of it, exercised
// through the interface with no sub-events: her template's implementation
// does nothing. (For an offer whose receiver she is, the interface makes
// her the controller.)
func forgedOffer(t testing.TB, spec ledgertest.TransferSpec, cid string) (*ledger.CreatedEvent, *ledger.ExercisedEvent) {
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
	c.ContractID, c.NodeID, c.TemplateID = cid, 0, forgedTemplate
	c.Signatories, c.Observers, c.WitnessParties = []string{forger}, []string{treasury}, []string{treasury}

	x := *(w.Reject(icid).Events[0].(*ledger.ExercisedEvent))
	x.ContractID, x.TemplateID, x.NodeID, x.LastDescendantNodeID = cid, forgedTemplate, 0, 0
	x.WitnessParties = []string{treasury}
	return &c, &x
}

// ownChoice is x made a consuming choice of the forger's own template,
// named choice, that does nothing.
func ownChoice(x *ledger.ExercisedEvent, choice string) *ledger.ExercisedEvent {
	o := *x
	o.Choice, o.InterfaceID, o.ImplementedInterfaces = choice, nil, nil
	o.ChoiceArgument, o.ExerciseResult, o.Consuming = ledger.Record(nil), ledger.Unit(), true
	return &o
}

// forgedTx is a transaction of the forger's, at offset, with events.
func forgedTx(offset int64, events ...ledger.Event) *ledger.Transaction {
	return &ledger.Transaction{UpdateID: "upd-forged-" + string(rune('0'+offset)), Offset: offset,
		RecordTime: ledgertest.DefaultStartTime.Add(time.Duration(offset) * time.Second), SynchronizerID: ledgertest.DefaultSynchronizer,
		Events: events}
}

// requireNotTheTreasurys fails if an entry makes the forger's contract a
// transfer of the treasury's: an outcome of a withdrawal, an offer, a
// deposit.
func requireNotTheTreasurys(t *testing.T, es []tokenstd.Entry) {
	t.Helper()
	for _, e := range es {
		require.Empty(t, e.WithdrawalID, "the forger's contract moved withdrawal %q: a %s entry (instruction %s)", e.WithdrawalID, e.Kind, e.InstructionCID)
		require.NotContains(t, []tokenstd.Kind{tokenstd.KindOfferIn, tokenstd.KindOfferOut, tokenstd.KindDeposit,
			tokenstd.KindDepositUnassigned, tokenstd.KindWithdrawal, tokenstd.KindRejected, tokenstd.KindWithdrawn,
			tokenstd.KindFailed, tokenstd.KindExpired}, e.Kind, "the forger's contract became a %s entry of the treasury: %+v", e.Kind, e)
	}
}

// A TransferInstruction view is what the contract's template says about
// itself. Mallory writes a template implementing TransferInstruction whose
// view says the treasury sends her 60 Amulet for withdrawal wd-1 (a real
// withdrawal's id, as the exchange's own instructions carry), creates it
// with the treasury as observer, then archives it: rejecting it (the
// interface makes her, the receiver, the controller) or with a choice of
// her own. Neither the treasury nor the DSO signed the contract: it locks
// no holding of the treasury and is no instruction of the treasury's. Taken
// for one, its offer makes the withdrawal pending acceptance of it and its
// end refunds the withdrawal, while the exchange's real transfer is in
// flight: paid twice.
func TestForgedOutgoingInstructionIsNoWithdrawalOutcome(t *testing.T) {
	for _, end := range []string{tokenstd.ChoiceInstructionReject, "Mallory_Cancel"} {
		t.Run(end, func(t *testing.T) {
			create, reject := forgedOffer(t, ledgertest.TransferSpec{Sender: treasury, Receiver: forger, Amount: "60", Reason: "wd-1"}, "00forgedINSTR")
			x := reject
			if end != reject.Choice {
				x = ownChoice(reject, end)
			}
			set := tokenstd.NewHoldingSet()
			es, err := tokenstd.Classify(forgedTx(1, create), treasury, set)
			require.NoError(t, err, "a forged contract must not halt ingestion")
			requireNotTheTreasurys(t, es)
			set.Apply(es)
			es, err = tokenstd.Classify(forgedTx(2, x), treasury, set)
			require.NoError(t, err, "a forged contract must not halt ingestion")
			requireNotTheTreasurys(t, es)
		})
	}
}

// The same forgery of an incoming offer: mallory's own contract whose view
// says she sends the treasury 25 Amulet for acct-7. No offer is recorded
// (an exchange that accepts the offers it is shown would exercise her
// template's code with the treasury's authority), and ending it credits
// nothing.
func TestForgedIncomingInstructionIsNoOffer(t *testing.T) {
	create, reject := forgedOffer(t, ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "25", Reason: "acct-7"}, "00forgedIN")
	set := tokenstd.NewHoldingSet()
	es, err := tokenstd.Classify(forgedTx(1, create), treasury, set)
	require.NoError(t, err)
	requireNotTheTreasurys(t, es)
	set.Apply(es)
	require.Empty(t, set.Pending(), "the forger's contract is pending as an instruction of the treasury's")

	settle := ownChoice(reject, "Mallory_Settle")
	settle.ActingParties = []string{forger}
	settle.ExerciseResult = ledger.Record(nil, ledger.F("meta", metadataValue(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: forger, tokenstd.MetaReason: "acct-7"})))
	es, err = tokenstd.Classify(forgedTx(2, settle), treasury, set)
	require.NoError(t, err)
	requireNotTheTreasurys(t, es)
}

// A successor is an instruction too: a contract the forger signed alone
// whose view names a real instruction of the treasury's as its
// originalInstructionCid, created in a transaction in which the real one
// ended unfulfilled, does not carry the withdrawal on (it would then follow
// the forger's contract, which she can reject for a refund while the real
// transfer goes on). The real one failed.
func TestForgedSuccessorReplacesNothing(t *testing.T) {
	a := newAdvanceSetting(t)
	end := a.tmpl
	end.Choice, end.InterfaceID, end.ImplementedInterfaces = "RegistryTransferInstruction_Abort", nil, nil
	end.ActingParties = []string{a.w.Admin}
	end.ChoiceArgument, end.ExerciseResult = ledger.Record(nil), ledger.Unit()
	end.NodeID, end.LastDescendantNodeID = 0, 0
	forged := a.successor
	forged.ContractID, forged.NodeID, forged.TemplateID = "00forgedNEXT", 1, forgedTemplate
	forged.Signatories, forged.Observers = []string{forger}, []string{treasury}

	es := classifyAfter(t, a.tx(&end, &forged), a.mint, a.offer)
	require.Len(t, es, 1, "%+v", es)
	require.Equal(t, tokenstd.KindFailed, es[0].Kind, "the forger's contract taken for the successor of %s: %+v", a.cid, es[0])
	require.Equal(t, a.cid, es[0].InstructionCID)
	require.Equal(t, "wd-1", es[0].WithdrawalID)
}
