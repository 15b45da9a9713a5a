package tokenstd_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func requireDecimal(t *testing.T, want string, got decimal.Decimal) {
	t.Helper()
	require.True(t, decimal.RequireFromString(want).Equal(got), "want %s, got %s", want, got)
}

// viewOwner is the owner in a created holding's view.
func viewOwner(t *testing.T, c *ledger.CreatedEvent) string {
	t.Helper()
	v, err := c.InterfaceViews[0].Value.Get("owner")
	require.NoError(t, err)
	p, err := v.AsParty()
	require.NoError(t, err)
	return p
}

// asRegistryChoice turns the root exercise (node 0) into a choice of the
// registry's own (not a token standard choice), keeping its argument,
// result and sub-events.
func asRegistryChoice(tx *ledger.Transaction, choice string) *ledger.Transaction {
	out := cloneTx(tx)
	x := out.Events[0].(*ledger.ExercisedEvent)
	x.InterfaceID, x.Choice, x.ImplementedInterfaces = nil, choice, nil
	return out
}

// classifyAfter classifies last after applying the entries of before, in
// the treasury's view, and returns last's entries.
func classifyAfter(t *testing.T, last *ledger.Transaction, before ...*ledger.Transaction) []tokenstd.Entry {
	t.Helper()
	set := tokenstd.NewHoldingSet()
	for _, tx := range before {
		es, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(es)
	}
	es, err := tokenstd.Classify(last, treasury, set)
	require.NoError(t, err)
	return es
}

// An instruction ended by a registry's own choice whose metadata says
// tx-kind transfer is a transfer if the funds moved as one: the treasury
// got them (a deposit), or lost at least the amount (a withdrawal). Funds
// that went back to the sender are an instruction that ended unfulfilled,
// whatever the tx-kind says.
func TestInstructionEndedByARegistryChoice(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }

	t.Run("incoming, completed", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "60")
		offer, in := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-2"})
		done := asRegistryChoice(view(w.Accept(in)), "RegistryTransferInstruction_Complete")
		es := classifyAfter(t, done, view(offer))
		require.Len(t, es, 1)
		require.Equal(t, tokenstd.KindDeposit, es[0].Kind, "%+v", es[0])
		require.Equal(t, "acct-2", es[0].Account)
		requireDecimal(t, "25", es[0].Amount)
		require.Equal(t, in, es[0].InstructionCID)
	})

	t.Run("outgoing, completed", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		mint := w.Mint(treasury, "100")
		offer, in := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "40", Reason: "wd-7", Fee: "1"})
		done := asRegistryChoice(view(w.Accept(in)), "RegistryTransferInstruction_Complete")
		es := classifyAfter(t, done, view(mint), view(offer))
		require.Len(t, es, 1)
		require.Equal(t, tokenstd.KindWithdrawal, es[0].Kind, "%+v", es[0])
		require.Equal(t, "wd-7", es[0].WithdrawalID)
		requireDecimal(t, "40", es[0].Transferred)
	})

	t.Run("outgoing, funds back to the treasury", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		mint := w.Mint(treasury, "100")
		offer, in := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "40", Reason: "wd-8", Fee: "1"})
		back := asRegistryChoice(view(w.Withdraw(in)), "RegistryTransferInstruction_Abort")
		editResult(t, back, 0, []string{"meta", "values"}, setTo(ledger.TextMapOf(map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer})))
		es := classifyAfter(t, back, view(mint), view(offer))
		require.Len(t, es, 1)
		require.Equal(t, tokenstd.KindFailed, es[0].Kind, "%+v", es[0])
		require.Equal(t, "wd-8", es[0].WithdrawalID)
	})

	t.Run("incoming, funds back to the sender", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "60")
		offer, in := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-3"})
		back := asRegistryChoice(view(w.Withdraw(in)), "RegistryTransferInstruction_Abort")
		editResult(t, back, 0, []string{"meta", "values"}, setTo(ledger.TextMapOf(map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer})))
		es := classifyAfter(t, back, view(offer))
		require.Len(t, es, 1)
		require.Equal(t, tokenstd.KindFailed, es[0].Kind, "%+v", es[0])
	})
}

// A transfer of the treasury's to itself through a choice that is not the
// standard's but says tx-kind transfer is a merge or split, as through
// TransferFactory_Transfer: all that left the treasury is the burned fee.
func TestSelfTransferWithTxKindIsAMergeSplit(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	d1 := view(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "30", Reason: "acct-1"}))
	d2 := view(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-1"}))
	merge := view(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: "49", Fee: "0.5"}))

	std := classifyAfter(t, merge, d1, d2)
	require.Len(t, std, 1)
	require.Equal(t, tokenstd.KindMergeSplit, std[0].Kind)

	wallet := classifyAfter(t, asRegistryChoice(merge, "WalletAppInstall_Transfer"), d1, d2)
	require.Len(t, wallet, 1)
	require.Equal(t, tokenstd.KindMergeSplit, wallet[0].Kind, "%+v", wallet[0])
	requireDecimal(t, "0.5", wallet[0].Fee)
	require.Empty(t, wallet[0].WithdrawalID)

	// Through the same choice, a payment to someone the treasury's view
	// does not show is still a withdrawal: more than the fee left.
	more := view(w.Mint(treasury, "100"))
	pay := view(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Fee: "0.5", Reason: "wd-9"}))
	hidden := asRegistryChoice(pay, "WalletAppInstall_Transfer")
	var kept []ledger.Event
	for _, ev := range hidden.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && len(c.InterfaceViews) > 0 && viewOwner(t, c) == alice {
			continue // not visible to the treasury
		}
		kept = append(kept, ev)
	}
	hidden.Events = kept
	es := classifyAfter(t, hidden, d1, d2, merge, more)
	require.NotEmpty(t, es)
	require.Equal(t, tokenstd.KindWithdrawal, es[0].Kind, "%+v", es[0])
	require.Equal(t, "wd-9", es[0].WithdrawalID)
}

// A burned amount is the registry's word, in its result. A depositor
// writes transfer.meta and extraArgs.meta: a malformed burned value there
// must not stop the treasury's ingestion on the deposit (under Halt every
// later transaction waits on it), nor be read as a fee.
func TestSendersBurnedMetadataDoesNotStopADeposit(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	bad := map[string]string{tokenstd.MetaBurned: "n/a"}
	requireDeposit := func(t *testing.T, es []tokenstd.Entry, amount string) {
		t.Helper()
		require.Len(t, es, 1)
		require.Equal(t, tokenstd.KindDeposit, es[0].Kind, "%+v", es[0])
		require.Equal(t, "acct-1", es[0].Account)
		requireDecimal(t, amount, es[0].Amount)
	}

	t.Run("TransferFactory_Transfer, transfer.meta", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "100")
		dep := view(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1", Meta: bad}))
		requireDeposit(t, classifyAfter(t, dep), "10")
	})
	t.Run("TransferFactory_Transfer, extraArgs.meta", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "100")
		dep := view(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1", ExtraMeta: bad}))
		requireDeposit(t, classifyAfter(t, dep), "10")
	})
	t.Run("accepting an offer", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "100")
		offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1", Meta: bad})
		requireDeposit(t, classifyAfter(t, view(w.Accept(cid)), view(offer)), "10")
	})
	t.Run("a registry's choice saying tx-kind transfer", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "100")
		dep := asRegistryChoice(view(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1", Meta: bad})),
			"WalletAppInstall_Transfer")
		editResult(t, dep, 0, []string{"meta", "values"}, setTo(ledger.TextMapOf(map[string]string{
			tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: alice})))
		requireDeposit(t, classifyAfter(t, dep), "10")
	})
	t.Run("the registry's own malformed burned amount does not stop it either", func(t *testing.T) {
		// The registry of a deposit may be anyone's (the sender's own
		// instrument): its burned amount is not the treasury's fee, and
		// checking it would let any registry halt ingestion.
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "100")
		dep := view(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"}))
		editResult(t, dep, 0, []string{"meta", "values"}, setTo(ledger.TextMapOf(bad)))
		requireDeposit(t, classifyAfter(t, dep), "10")
	})
}

// A registry's choice saying tx-kind transfer without naming the sender,
// which took funds from the treasury and gave another party a holding, is
// the treasury paying: a withdrawal, not a merge or split whose fee is the
// whole payment.
func TestTxKindTransferWithoutSenderFromTheTreasury(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	mint := view(w.Mint(treasury, "100"))
	pay := asRegistryChoice(view(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Reason: "wd-9"})),
		"WalletAppInstall_Transfer")
	editResult(t, pay, 0, []string{"meta", "values"}, setTo(ledger.TextMapOf(map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer})))
	es := classifyAfter(t, pay, mint)
	require.Len(t, es, 1)
	require.Equal(t, tokenstd.KindWithdrawal, es[0].Kind, "%+v", es[0])
	require.Equal(t, "wd-9", es[0].WithdrawalID)
	requireDecimal(t, "-10", es[0].Amount)
	requireDecimal(t, "10", es[0].Transferred)
	requireDecimal(t, "0", es[0].Fee)
	require.Equal(t, alice, es[0].Receiver)
}

// A registry's own consuming choice on an instruction that creates its
// successor (the new view's originalInstructionCid names the old one), with
// the funds still locked, advanced the transfer: the old instruction is
// replaced, not failed. Taking it for failed would refund a withdrawal
// whose transfer goes on.
func TestInstructionAdvancedByARegistryChoice(t *testing.T) {
	a := newAdvanceSetting(t)
	root, create := a.tmpl, a.successor
	root.Choice, root.InterfaceID, root.ImplementedInterfaces = "RegistryTransferInstruction_Advance", nil, nil
	root.ActingParties = []string{a.w.Admin}
	root.ChoiceArgument = ledger.Record(nil)
	root.ExerciseResult = ledger.Record(nil, ledger.F("nextInstructionCid", ledger.ContractID("00instrNEXT")))
	root.NodeID, root.LastDescendantNodeID = 0, 1
	create.NodeID = 1
	advance := a.tx(&root, &create)

	es := classifyAfter(t, advance, a.mint, a.offer)
	require.Len(t, es, 1)
	require.Equal(t, tokenstd.KindOfferOut, es[0].Kind, "the transfer was not ended, its instruction was replaced: %+v", es[0])
	require.Equal(t, "wd-1", es[0].WithdrawalID)
	require.NotNil(t, es[0].Instruction)
	require.Equal(t, "00instrNEXT", es[0].Instruction.ContractID)
	require.Equal(t, a.cid, es[0].Instruction.Replaces)

	// Without a successor naming it, the same choice still ends it.
	ended := cloneTx(advance)
	ended.Events = ended.Events[:1]
	ended.Events[0].(*ledger.ExercisedEvent).LastDescendantNodeID = 0
	es = classifyAfter(t, ended, a.mint, a.offer)
	require.Len(t, es, 1)
	require.NotEqual(t, tokenstd.KindOfferOut, es[0].Kind, "%+v", es[0])
}

// The same choice naming no sender that merged the treasury's own holdings:
// the treasury lost only the registry's fee (not reported as burned) and
// nobody else got a holding. It stays a merge, not a withdrawal to nobody.
func TestTxKindTransferWithoutSenderSelfMerge(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	d1 := view(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "30", Reason: "acct-1"}))
	d2 := view(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-1"}))
	merge := asRegistryChoice(view(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: "49", Fee: "0.5"})),
		"WalletAppInstall_Transfer")
	editResult(t, merge, 0, []string{"meta", "values"}, setTo(ledger.TextMapOf(map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer})))

	es := classifyAfter(t, merge, d1, d2)
	require.Len(t, es, 1)
	require.Equal(t, tokenstd.KindMergeSplit, es[0].Kind, "a merge of the treasury's own holdings became %+v", es[0])
	requireDecimal(t, "0.5", es[0].Fee)
	require.Empty(t, es[0].WithdrawalID)
}

// The setting of TestInstructionAdvancedByARegistryChoice, with the
// registry's choice exercised on the registry's own contract instead of on
// the instruction: inside it the instruction is archived and its successor
// (whose view names it as originalInstructionCid) is created, the funds
// still locked. The transfer goes on: the old instruction is replaced, not
// failed (a failed withdrawal is refunded while its transfer goes on).
func TestInstructionAdvancedFromTheRegistrysContract(t *testing.T) {
	a := newAdvanceSetting(t)
	root, archive, create := a.tmpl, a.tmpl, a.successor
	root.ContractID, root.Choice, root.InterfaceID, root.ImplementedInterfaces = "00registryRULES", "Registry_AdvanceTransfer", nil, nil
	root.Consuming = false
	root.ActingParties = []string{a.w.Admin}
	root.ChoiceArgument = ledger.Record(nil, ledger.F("instructionCid", ledger.ContractID(a.cid)))
	root.ExerciseResult = ledger.Record(nil, ledger.F("nextInstructionCid", ledger.ContractID("00instrNEXT")))
	root.NodeID, root.LastDescendantNodeID = 0, 2

	archive.Choice, archive.InterfaceID, archive.ImplementedInterfaces = "Archive", nil, nil // archive instructionCid
	archive.Consuming = true
	archive.ActingParties = []string{a.w.Admin}
	archive.ChoiceArgument = ledger.Record(nil)
	archive.ExerciseResult = ledger.Unit()
	archive.NodeID, archive.LastDescendantNodeID = 1, 1
	create.NodeID = 2
	advance := a.tx(&root, &archive, &create)

	es := classifyAfter(t, advance, a.mint, a.offer)
	var kinds []tokenstd.Kind
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []tokenstd.Kind{tokenstd.KindOfferOut}, kinds, "the transfer was not ended, its instruction was replaced: %+v", es)
	require.Equal(t, "wd-1", es[0].WithdrawalID)
	require.Equal(t, "00instrNEXT", es[0].Instruction.ContractID)
	require.Equal(t, a.cid, es[0].Instruction.Replaces)

	// The holding set then holds the successor alone.
	set := tokenstd.NewHoldingSet()
	for _, tx := range []*ledger.Transaction{a.mint, a.offer, advance} {
		got, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(got)
	}
	pending := set.Pending()
	require.Len(t, pending, 1)
	require.Equal(t, "00instrNEXT", pending[0].ContractID)
}

// advanceSetting is the setting of the tests of an instruction advanced by
// a registry: the treasury's offer of 10 to bob for withdrawal wd-1 (mint
// and offer in the treasury's view), an exercise on the instruction to
// start a registry's choice from (tmpl, node 0), and the successor's create
// (contract 00instrNEXT, its view naming the offer's instruction as
// originalInstructionCid); the caller numbers the nodes.
type advanceSetting struct {
	w           *ledgertest.TokenWorld
	mint, offer *ledger.Transaction
	cid         string
	tmpl        ledger.ExercisedEvent
	successor   ledger.CreatedEvent
}

func newAdvanceSetting(t *testing.T) advanceSetting {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	a := advanceSetting{w: &ledgertest.TokenWorld{Sequence: true}}
	mint := a.w.Mint(treasury, "100")
	offer, cid := a.w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10", Reason: "wd-1"})
	accept := a.w.Accept(cid)
	a.mint, a.offer, a.cid = view(mint), view(offer), cid
	for _, ev := range offer.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == cid {
			a.successor = *c
		}
	}
	require.Equal(t, cid, a.successor.ContractID)
	a.tmpl = *(accept.Events[0].(*ledger.ExercisedEvent))
	a.successor.ContractID = "00instrNEXT"
	a.successor.InterfaceViews = append([]ledger.InterfaceView(nil), a.successor.InterfaceViews...)
	a.successor.InterfaceViews[0].Value = editValue(t, a.successor.InterfaceViews[0].Value, []string{"originalInstructionCid"},
		setTo(ledger.Some(ledger.ContractID(cid))))
	return a
}

// tx is a transaction at the acceptance's place holding events.
func (a advanceSetting) tx(events ...ledger.Event) *ledger.Transaction {
	return &ledger.Transaction{UpdateID: "upd-advance", Offset: a.offer.Offset + 1, RecordTime: a.offer.RecordTime.Add(time.Second),
		SynchronizerID: a.offer.SynchronizerID, Events: events}
}
