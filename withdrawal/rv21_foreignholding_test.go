package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// mallorysEventsTx is the next transaction of e's world, holding evs (node
// ids and last descendants as given).
func (e *env) mallorysEventsTx(evs ...ledger.Event) *ledger.Transaction {
	tx := e.mallorysTx(evs[0])
	for _, ev := range evs[1:] {
		switch x := ev.(type) {
		case *ledger.CreatedEvent:
			x.Offset = tx.Offset
		case *ledger.ExercisedEvent:
			x.Offset = tx.Offset
		}
	}
	tx.Events = evs
	return tx
}

// Mallory is the admin of an instrument of her own, MAL, whose holdings
// she alone signs (the admin's signature is what makes a holding count).
// She creates a MAL holding of 60 owned by the treasury, the treasury an
// observer: the treasury got 60 MAL. Then, while her Amulet withdrawal
// wd-1 is submitted, she archives that holding in a choice of her own
// whose argument's metadata says tx-kind transfer, sender the treasury,
// reason wd-1. The treasury's holding left, but the treasury did not act:
// it sent nothing, and wd-1 must stay submitted and unrefunded. Taken at
// her word, it is the treasury's withdrawal wd-1: completed (with a
// mismatch anomaly) before its Amulet transfer is even accepted.
func TestMallorysArchiveOfHerHoldingMovesNoWithdrawal(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	w := e.submittedToMallory()

	mal := ledgertest.TokenInstrument{Admin: mallory, ID: "MAL"}
	fw := &ledgertest.TokenWorld{Sequence: true}
	var holding ledger.CreatedEvent
	for _, ev := range fw.Mint(treasury, "60", mal).Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok {
			holding = *c
		}
	}
	tmpl := ledger.Identifier{PackageID: "mallorypkg", ModuleName: "Mallory", EntityName: "Holding"}
	holding.ContractID, holding.TemplateID, holding.NodeID = "00malloryHOLDING", tmpl, 0
	holding.Signatories, holding.Observers, holding.WitnessParties = []string{mallory}, []string{treasury}, []string{treasury}
	e.apply(e.mallorysTx(&holding))

	metaID := ledger.Identifier{PackageID: "p", ModuleName: tokenstd.ModuleMetadata, EntityName: "Metadata"}
	pay := &ledger.ExercisedEvent{
		ContractID: "00malloryRULES", TemplateID: tmpl, Choice: "Mallory_Pay", Consuming: true,
		ActingParties: []string{mallory}, WitnessParties: []string{treasury}, NodeID: 0, LastDescendantNodeID: 1,
		ChoiceArgument: ledger.Record(nil, ledger.F("meta", ledger.Record(&metaID, ledger.F("values", ledger.TextMapOf(map[string]string{
			tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: treasury, tokenstd.MetaReason: w.ID}))))),
		ExerciseResult: ledger.Unit(),
	}
	archive := &ledger.ExercisedEvent{
		ContractID: holding.ContractID, TemplateID: tmpl, Choice: "Archive", Consuming: true,
		ActingParties: []string{mallory}, WitnessParties: []string{treasury}, NodeID: 1, LastDescendantNodeID: 1,
		ChoiceArgument: ledger.Record(nil), ExerciseResult: ledger.Unit(),
	}
	require.NoError(t, e.run(e.batch(ledgertest.DefaultStartTime, e.mallorysEventsTx(pay, archive))), "mallory's choice halted ingestion")
	e.requireUnmovedThenCompletes(w, "mallory's archive of her own holding")
}

// The same through the standard's interface: mallory's own contract
// implementing TransferInstruction (no instruction of the treasury's: the
// classifier ignores it), receiver herself, which she accepts through the
// interface; her implementation archives the treasury's MAL holding and
// returns Completed with the metadata "sender = treasury, reason = wd-1".
// The treasury's holding was spent, but the treasury did not act: wd-1
// must stay submitted and unrefunded.
func TestMallorysAcceptSpendingHerHoldingMovesNoWithdrawal(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	w := e.submittedToMallory()

	mal := ledgertest.TokenInstrument{Admin: mallory, ID: "MAL"}
	fw := &ledgertest.TokenWorld{Sequence: true}
	var holding ledger.CreatedEvent
	for _, ev := range fw.Mint(treasury, "60", mal).Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok {
			holding = *c
		}
	}
	tmpl := ledger.Identifier{PackageID: "mallorypkg", ModuleName: "Mallory", EntityName: "Holding"}
	holding.ContractID, holding.TemplateID, holding.NodeID = "00malloryHOLDING", tmpl, 0
	holding.Signatories, holding.Observers, holding.WitnessParties = []string{mallory}, []string{treasury}, []string{treasury}
	e.apply(e.mallorysTx(&holding))

	spec := ledgertest.TransferSpec{Sender: treasury, Receiver: mallory, Amount: "60", Reason: w.ID}
	create, _ := forgedInstruction(t, spec, "00malloryINSTR")
	require.NoError(t, e.run(e.batch(ledgertest.DefaultStartTime, e.mallorysTx(create))))
	fw.Mint(treasury, "1000")
	_, icid := fw.Offer(spec)
	accept := *(fw.Accept(icid).Events[0].(*ledger.ExercisedEvent))
	accept.ContractID, accept.TemplateID, accept.NodeID, accept.LastDescendantNodeID = create.ContractID, create.TemplateID, 0, 1
	accept.WitnessParties = []string{treasury}
	resID, ok := accept.ExerciseResult.TypeID()
	require.True(t, ok)
	out, err := accept.ExerciseResult.Get("output") // TransferInstructionResult_Completed
	require.NoError(t, err)
	metaID := ledger.Identifier{PackageID: "p", ModuleName: tokenstd.ModuleMetadata, EntityName: "Metadata"}
	accept.ExerciseResult = ledger.Record(&resID, ledger.F("output", out), ledger.F("senderChangeCids", ledger.List()),
		ledger.F("meta", ledger.Record(&metaID, ledger.F("values", ledger.TextMapOf(map[string]string{
			tokenstd.MetaSender: treasury, tokenstd.MetaReason: w.ID})))))
	archive := &ledger.ExercisedEvent{
		ContractID: holding.ContractID, TemplateID: tmpl, Choice: "Archive", Consuming: true,
		ActingParties: []string{mallory}, WitnessParties: []string{treasury}, NodeID: 1, LastDescendantNodeID: 1,
		ChoiceArgument: ledger.Record(nil), ExerciseResult: ledger.Unit(),
	}
	require.NoError(t, e.run(e.batch(ledgertest.DefaultStartTime, e.mallorysEventsTx(&accept, archive))), "mallory's accept halted ingestion")
	e.requireUnmovedThenCompletes(w, "mallory's accept of her own instruction")
}
