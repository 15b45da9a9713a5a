package tokenstd_test

import (
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// countingLookup knows no holding and no instruction, and counts how often
// it was asked.
type countingLookup struct{ holdings, instrs int }

func (l *countingLookup) LookupHolding(string) (tokenstd.Holding, bool, error) {
	l.holdings++
	return tokenstd.Holding{}, false, nil
}

func (l *countingLookup) LookupInstruction(string) (tokenstd.Instruction, bool, error) {
	l.instrs++
	return tokenstd.Instruction{}, false, nil
}

// unreadableChain is mallory's transaction of n nested consuming exercises
// of a choice of her interface in a module named as a version of the token
// standard this package does not read, each on a contract of hers, the
// treasury an observer: node k is the k-th level, and every level's
// subtree reaches the last node.
func unreadableChain(n int) *ledger.Transaction {
	iface := ledger.Identifier{PackageID: "mallorypkg", ModuleName: "Splice.Api.Token.TransferInstructionV2", EntityName: "TransferInstruction"}
	events := make([]ledger.Event, n)
	for k := range events {
		events[k] = &ledger.ExercisedEvent{
			NodeID: int32(k), LastDescendantNodeID: int32(n - 1),
			ContractID: fmt.Sprintf("00malloryCHAIN%d", k), TemplateID: forgedTemplate, InterfaceID: &iface,
			Choice: "TransferInstruction_Withdraw", ImplementedInterfaces: []ledger.Identifier{iface},
			ChoiceArgument: ledger.Record(nil, ledger.F("anything", ledger.Int64(1))),
			ExerciseResult: ledger.Text("whatever"), ActingParties: []string{forger}, Consuming: true,
			WitnessParties: []string{treasury},
		}
	}
	return &ledger.Transaction{UpdateID: "upd-chain", Offset: 1, Events: events}
}

// Each level of mallory's chain is a choice the classifier cannot read, and
// it asks whether the subtree below may change the treasury's books: it
// looked at every event below every level again, asking the lookups about
// each contract consumed there, n²/2 times in all (a chain of 5,000
// levels took 0.7 s, one of 10,000 about 3 s). Each contract is to be
// asked about a bounded number of times.
func TestUnreadableChainLooksUpEachContractOnce(t *testing.T) {
	const n = 2000
	l := &countingLookup{}
	entries, err := tokenstd.Classifier{Treasury: treasury}.Classify(unreadableChain(n), l)
	require.NoError(t, err)
	require.Empty(t, entries)
	require.LessOrEqual(t, l.holdings, 3*n, "holding lookups for a chain of %d unreadable choices", n)
	require.LessOrEqual(t, l.instrs, 3*n, "instruction lookups for a chain of %d unreadable choices", n)
}

func BenchmarkUnreadableChain(b *testing.B) {
	for _, n := range []int{1000, 5000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tx := unreadableChain(n)
			for b.Loop() {
				if _, err := (tokenstd.Classifier{Treasury: treasury}).Classify(tx, &countingLookup{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnreadableChainPrepare is the History handler's Prepare of the
// chain: it records every contract the classification looked up.
func BenchmarkUnreadableChainPrepare(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tx := unreadableChain(n)
			h, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury})
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				if h.Prepare(tx) == nil {
					b.Fatal("not prepared")
				}
			}
		})
	}
}

// A subtree inside one found not to touch the treasury's books may touch
// them once a contract consumed in it became the treasury's in between:
// mallory's unreadable choice holds her offer to the treasury (an
// instruction of her instrument) and, one level down, another unreadable
// choice archiving it. The outer choice's subtree consumes no instruction
// known yet; the inner one's consumes the offer created in between: a
// ParseError, as before the outer choice's answer was kept.
func TestUnreadableChoiceConsumingAnOfferCreatedAbove(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(forger, "1000", malloryInstrument)
	offer, icid := w.Offer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "5", Reason: "acct-9",
		Instrument: malloryInstrument})
	var instr ledger.CreatedEvent
	for _, ev := range offer.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == icid {
			instr = *c
		}
	}
	require.NotEmpty(t, instr.ContractID)
	tx := unreadableChain(3)
	outer, inner := tx.Events[0].(*ledger.ExercisedEvent), tx.Events[1].(*ledger.ExercisedEvent)
	outer.LastDescendantNodeID = 3
	inner.NodeID, inner.LastDescendantNodeID = 2, 3
	instr.NodeID = 1
	tx.Events = []ledger.Event{outer, &instr, inner, &ledger.ArchivedEvent{NodeID: 3, ContractID: icid, TemplateID: instr.TemplateID}}

	entries, err := tokenstd.Classifier{Treasury: treasury}.Classify(tx, tokenstd.NewHoldingSet())
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe, "entries %+v", entries)
	require.Equal(t, int32(2), pe.NodeID)
}

// txKindChain is mallory's transaction of n nested non-consuming choices of
// her own template, each with metadata of a tx-kind of her own, the
// treasury an observer, and at the bottom a choice of hers whose metadata
// says tx-kind transfer: every level wraps a transfer, so none is an
// operation, and the classifier asks at each level where its subtree ends.
func txKindChain(n int) *ledger.Transaction {
	meta := func(kind string) ledger.Value {
		return ledger.Record(nil, ledger.F("meta", ledger.Record(nil,
			ledger.F("values", ledger.TextMapOf(map[string]string{tokenstd.MetaTxKind: kind})))))
	}
	events := make([]ledger.Event, n)
	for k := range events {
		kind := "mallory-kind"
		if k == n-1 {
			kind = tokenstd.TxKindTransfer
		}
		events[k] = &ledger.ExercisedEvent{
			NodeID: int32(k), LastDescendantNodeID: int32(n - 1),
			ContractID: fmt.Sprintf("00malloryKIND%d", k), TemplateID: forgedTemplate, Choice: "Mallory_Wrap",
			ChoiceArgument: meta(kind), ExerciseResult: ledger.Unit(), ActingParties: []string{forger},
			WitnessParties: []string{treasury},
		}
	}
	return &ledger.Transaction{UpdateID: "upd-kinds", Offset: 1, Events: events}
}

func BenchmarkTxKindChain(b *testing.B) {
	for _, n := range []int{1000, 5000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tx := txKindChain(n)
			for b.Loop() {
				if _, err := (tokenstd.Classifier{Treasury: treasury}).Classify(tx, &countingLookup{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// advancedChain is mallory's transaction of n offers to the treasury of her
// instrument, then n archives of them by a registry's choice of hers (no
// standard outcome: each ended, a failed entry), then n offers naming one
// each as its originalInstructionCid: each failed entry is replaced by its
// successor's offer (replaceAdvanced).
func advancedChain(tb testing.TB, n int) *ledger.Transaction {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(forger, "1000", malloryInstrument)
	offer, icid := w.Offer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "5", Reason: "acct-9",
		Instrument: malloryInstrument})
	var instr ledger.CreatedEvent
	for _, ev := range offer.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == icid {
			instr = *c
		}
	}
	require.NotEmpty(tb, instr.ContractID)
	events := make([]ledger.Event, 0, 3*n)
	cid := func(k int) string { return fmt.Sprintf("00malloryOFFER%d", k) }
	for k := range n {
		c := instr
		c.NodeID, c.ContractID = int32(k), cid(k)
		events = append(events, &c)
	}
	for k := range n {
		events = append(events, &ledger.ArchivedEvent{NodeID: int32(n + k), ContractID: cid(k), TemplateID: instr.TemplateID})
	}
	for k := range n {
		c := instr
		c.NodeID, c.ContractID = int32(2*n+k), cid(n+k)
		c.InterfaceViews = append([]ledger.InterfaceView(nil), instr.InterfaceViews...)
		c.InterfaceViews[0].Value = editValue(tb, c.InterfaceViews[0].Value, []string{"originalInstructionCid"},
			setTo(ledger.Some(ledger.ContractID(cid(k)))))
		events = append(events, &c)
	}
	return &ledger.Transaction{UpdateID: "upd-advanced", Offset: 1, Events: events}
}

// Each of mallory's ended offers is replaced by the offer naming it, and
// the first offers stay: what BenchmarkAdvancedChain classifies.
func TestAdvancedChainReplacesEachEndedOffer(t *testing.T) {
	const n = 50
	entries, err := tokenstd.Classifier{Treasury: treasury}.Classify(advancedChain(t, n), tokenstd.NewHoldingSet())
	require.NoError(t, err)
	require.Len(t, entries, 2*n)
	for k, e := range entries {
		require.Equal(t, tokenstd.KindOfferIn, e.Kind, "entry %d", k)
		require.NotNil(t, e.Instruction, "entry %d", k)
		replaces := ""
		if k >= n {
			replaces = fmt.Sprintf("00malloryOFFER%d", k-n)
		}
		require.Equal(t, replaces, e.Instruction.Replaces, "entry %d", k)
	}
}

func BenchmarkAdvancedChain(b *testing.B) {
	for _, n := range []int{300, 1000, 3000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tx := advancedChain(b, n)
			for b.Loop() {
				if _, err := (tokenstd.Classifier{Treasury: treasury}).Classify(tx, tokenstd.NewHoldingSet()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// manyOwners is mallory's transfer of her instrument through her
// TransferFactory whose subtree creates holdings for n distinct owners.
func manyOwners(tb testing.TB, n int) *ledger.Transaction {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(forger, "1000000", malloryInstrument)
	pay := w.Transfer(ledgertest.TransferSpec{Sender: forger, Receiver: bob, Amount: "5", Instrument: malloryInstrument})
	var root *ledger.ExercisedEvent
	var holding ledger.CreatedEvent
	for _, ev := range pay.Events {
		switch e := ev.(type) {
		case *ledger.ExercisedEvent:
			if root == nil {
				root = e
			}
		case *ledger.CreatedEvent:
			if len(e.InterfaceViews) > 0 {
				if o, _ := e.InterfaceViews[0].Value.Field("owner"); o.String() != "" {
					holding = *e
				}
			}
		}
	}
	require.NotNil(tb, root)
	require.NotEmpty(tb, holding.ContractID)
	x := *root
	x.NodeID, x.LastDescendantNodeID = 0, int32(n)
	events := []ledger.Event{&x}
	for k := range n {
		c := holding
		c.NodeID, c.ContractID = int32(k+1), fmt.Sprintf("00malloryHOLDING%d", k)
		c.InterfaceViews = append([]ledger.InterfaceView(nil), holding.InterfaceViews...)
		c.InterfaceViews[0].Value = editValue(tb, c.InterfaceViews[0].Value, []string{"owner"},
			setTo(ledger.Party(fmt.Sprintf("owner-%d::1220aa", k))))
		events = append(events, &c)
	}
	return &ledger.Transaction{UpdateID: "upd-owners", Offset: 1, Events: events}
}

func BenchmarkManyOwners(b *testing.B) {
	for _, n := range []int{1000, 5000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tx := manyOwners(b, n)
			for b.Loop() {
				if _, err := (tokenstd.Classifier{Treasury: treasury}).Classify(tx, tokenstd.NewHoldingSet()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
