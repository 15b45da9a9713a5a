package tokenstd_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The treasury's transfer instruction to itself (a withdrawal paying the
// exchange's own party, its reason wd-1 in the factory call's extra
// metadata) advanced by a registry's choice on its own contract, which
// archives it and creates its successor. An offer to itself carries no
// withdrawal id, as what ends it does not; the successor's offer, which
// takes the reason of the instruction it replaces, must not either, or
// wd-1 goes pending acceptance again and stays so for good.
func TestAdvancedSelfOfferCarriesNoWithdrawalID(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := view(w.Mint(treasury, "100"))
	offer, a := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: "25",
		ExtraMeta: map[string]string{tokenstd.MetaReason: "wd-1"}})
	first := classifyAfter(t, view(offer), mint)
	var offered bool
	for _, e := range first {
		if e.Kind == tokenstd.KindOfferOut {
			offered = true
			require.Empty(t, e.WithdrawalID, "the offer to itself: %+v", e)
		}
	}
	require.True(t, offered, "%+v", first)

	accept := w.Accept(a)
	var created ledger.CreatedEvent
	for _, ev := range offer.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == a {
			created = *c
		}
	}
	require.Equal(t, a, created.ContractID)
	tmpl := *(accept.Events[0].(*ledger.ExercisedEvent))
	root, archive, succ := tmpl, tmpl, created
	root.ContractID, root.Choice, root.InterfaceID, root.ImplementedInterfaces = "00registryRULES", "Registry_AdvanceTransfer", nil, nil
	root.Consuming = false
	root.ActingParties = []string{w.Admin}
	root.ChoiceArgument = ledger.Record(nil, ledger.F("instructionCid", ledger.ContractID(a)))
	root.ExerciseResult = ledger.Record(nil, ledger.F("nextInstructionCid", ledger.ContractID("00instrB")))
	root.NodeID, root.LastDescendantNodeID = 0, 2
	archive.Choice, archive.InterfaceID, archive.ImplementedInterfaces = "Archive", nil, nil
	archive.Consuming = true
	archive.ActingParties = []string{w.Admin}
	archive.ChoiceArgument = ledger.Record(nil)
	archive.ExerciseResult = ledger.Unit()
	archive.NodeID, archive.LastDescendantNodeID = 1, 1
	succ.ContractID, succ.NodeID = "00instrB", 2
	succ.InterfaceViews = append([]ledger.InterfaceView(nil), created.InterfaceViews...)
	succ.InterfaceViews[0].Value = editValue(t, created.InterfaceViews[0].Value, []string{"originalInstructionCid"},
		setTo(ledger.Some(ledger.ContractID(a))))
	advance := &ledger.Transaction{UpdateID: "upd-advance", Offset: offer.Offset + 1, RecordTime: offer.RecordTime.Add(time.Second),
		SynchronizerID: offer.SynchronizerID, Events: []ledger.Event{&root, &archive, &succ}}

	es := classifyAfter(t, advance, mint, view(offer))
	require.Len(t, es, 1, "%+v", es)
	require.Equal(t, tokenstd.KindOfferOut, es[0].Kind)
	require.Equal(t, a, es[0].Instruction.Replaces)
	require.Equal(t, "wd-1", es[0].Reason)
	require.Empty(t, es[0].WithdrawalID, "the successor of the offer to itself names a withdrawal: %+v", es[0])
}
