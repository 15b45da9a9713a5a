package tokenstd_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A deposit whose instruction a registry evolves in three steps with its
// own choices (A, then B, then C; each successor's view names the original
// A as originalInstructionCid, as the token standard defines the field),
// the depositor's account given in the offer's extraArgs.meta. The steps
// land in separate batches, as they do when they are minutes apart. The
// treasury's acceptance of C must credit the deposit once, to acct-7.
func TestDepositThroughAThreeStepRegistryChain(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	offer, a := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25",
		ExtraMeta: map[string]string{tokenstd.MetaReason: "acct-7"}})
	accept := w.Accept(a)
	var created ledger.CreatedEvent
	for _, ev := range offer.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == a {
			created = *c
		}
	}
	require.Equal(t, a, created.ContractID)

	at := offer.Offset
	step := func(prev, next string) *ledger.Transaction {
		at++
		root := *(accept.Events[0].(*ledger.ExercisedEvent))
		root.ContractID, root.Choice, root.InterfaceID, root.ImplementedInterfaces = prev, "RegistryTransferInstruction_Advance", nil, nil
		root.ActingParties = []string{w.Admin}
		root.ChoiceArgument = ledger.Record(nil)
		root.ExerciseResult = ledger.Record(nil, ledger.F("nextInstructionCid", ledger.ContractID(next)))
		root.NodeID, root.LastDescendantNodeID, root.Offset = 0, 1, at
		succ := created
		succ.ContractID, succ.NodeID, succ.Offset = next, 1, at
		succ.InterfaceViews = append([]ledger.InterfaceView(nil), created.InterfaceViews...)
		succ.InterfaceViews[0].Value = editValue(t, created.InterfaceViews[0].Value, []string{"originalInstructionCid"},
			setTo(ledger.Some(ledger.ContractID(a))))
		return &ledger.Transaction{UpdateID: next, Offset: at, RecordTime: offer.RecordTime.Add(time.Duration(at) * time.Second),
			SynchronizerID: offer.SynchronizerID, Events: []ledger.Event{&root, &succ}}
	}
	toB, toC := step(a, "00instrB"), step("00instrB", "00instrC")
	done := cloneTx(view(accept))
	at++
	done.UpdateID, done.Offset, done.RecordTime = "upd-accept-C", at, offer.RecordTime.Add(time.Duration(at)*time.Second)
	done.Events[0].(*ledger.ExercisedEvent).ContractID = "00instrC"

	b := setupHistory(t)
	h := newHistory(t, tokenstd.Config{Credit: creditor()})
	require.NoError(t, b.handle(t, h, []*ledger.Transaction{view(offer), toB, toC, done}, 1))

	var credits []struct {
		Account string `db:"account"`
		Amount  string `db:"amount"`
	}
	require.NoError(t, b.db.Select(&credits, `SELECT account, amount::text AS amount FROM public.credit`))
	es, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	var kinds []tokenstd.Kind
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []tokenstd.Kind{tokenstd.KindOfferIn, tokenstd.KindOfferIn, tokenstd.KindOfferIn, tokenstd.KindDeposit}, kinds,
		"the registry's third step ended the deposit's instruction")
	require.Len(t, credits, 1, "the deposit was not credited")
	require.Equal(t, "acct-7", credits[0].Account)
}

// A deposit offer whose account (acct-7) is in the offer's extraArgs.meta,
// advanced by a registry's choice on its own contract that archives the
// instruction and creates its successor (whose view names it as
// originalInstructionCid). The successor's transfer_offer_in carries the
// offer's reason, and must name its account as the first offer's does:
// an exchange showing pending deposits by account lost it at the registry's
// step.
func TestAdvancedDepositOfferKeepsItsAccount(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	offer, a := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25",
		ExtraMeta: map[string]string{tokenstd.MetaReason: "acct-7"}})
	advance := registryAdvance(t, w, offer, a)

	es := classifyAfter(t, advance, view(offer))
	require.Len(t, es, 1, "%+v", es)
	require.Equal(t, tokenstd.KindOfferIn, es[0].Kind)
	require.Equal(t, a, es[0].Instruction.Replaces)
	require.Equal(t, "acct-7", es[0].Reason)
	require.Equal(t, "acct-7", es[0].Account, "the successor's offer names no account")
}

// registryAdvance is the registry's Registry_AdvanceTransfer of the
// instruction a that offer created, one step of a pending internal
// workflow: it archives a and creates its successor 00instrB (naming a as
// originalInstructionCid), in the transaction after offer.
func registryAdvance(t *testing.T, w *ledgertest.TokenWorld, offer *ledger.Transaction, a string) *ledger.Transaction {
	t.Helper()
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
	return &ledger.Transaction{UpdateID: "upd-advance", Offset: offer.Offset + 1, RecordTime: offer.RecordTime.Add(time.Second),
		SynchronizerID: offer.SynchronizerID, Events: []ledger.Event{&root, &archive, &succ}}
}
