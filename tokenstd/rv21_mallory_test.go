package tokenstd_test

import (
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// Mallory (forger) is any other party on the network: she writes her own
// templates, is the admin of her own instrument, and can make the treasury
// an observer of her contracts. Nothing she does alone may stop the
// treasury's ingestion under the default policies (PoisonHalt, Halt).

// malloryInstrument is an instrument whose registry is mallory's.
var malloryInstrument = ledgertest.TokenInstrument{Admin: forger, ID: "MAL"}

// malloryTx is a transaction of mallory's own holding events, for the
// participant to number.
func malloryTx(events ...ledger.Event) *ledger.Transaction {
	return &ledger.Transaction{Events: events}
}

// requireNotStoppedBy ingests, after a committed deposit, what mallory did
// (txs, or what add appends) and then alice's deposit of 7 Amulet for
// acct-3, with History and the Reconciler under the default policies: Run
// must ingest all of it and credit alice's deposit. It returns the rig.
func requireNotStoppedBy(t *testing.T, what string, add func(r *rig, w *ledgertest.TokenWorld)) *rig {
	t.Helper()
	r := newRig(t)
	w, _ := committedDeposit(t, r, ingest.PoisonHalt)
	add(r, w)
	r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-3"}))
	err := r.run(ingest.PoisonHalt)
	require.NoError(t, err, "%s stopped the treasury's ingestion", what)
	require.Equal(t, r.p.LedgerEnd(), r.checkpoint())
	require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history
		WHERE kind = 'deposit' AND account = 'acct-3' AND amount = 7`), "alice's deposit after %s is not credited", what)
	return r
}

// A template may have a choice named as a token standard one: the Ledger
// API names the interface of an interface choice, and a choice without
// one is the template's own, with an argument and result of its own
// types. Mallory's contract, the treasury an observer, has choices named
// TransferFactory_Transfer and TransferInstruction_Withdraw taking and
// returning anything; she exercises them. Read as the standard's, their
// arguments are malformed: a ParseError that halted ingestion.
func TestMallorysChoiceNamedAsAStandardOneDoesNotHaltIngestion(t *testing.T) {
	for _, choice := range []string{"TransferFactory_Transfer", "TransferInstruction_Withdraw"} {
		t.Run(choice, func(t *testing.T) {
			requireNotStoppedBy(t, "mallory's own choice "+choice, func(r *rig, _ *ledgertest.TokenWorld) {
				r.append(malloryTx(&ledger.ExercisedEvent{
					ContractID: "00malloryCHOICE", TemplateID: forgedTemplate, Choice: choice,
					ChoiceArgument: ledger.Record(nil, ledger.F("anything", ledger.Int64(1))),
					ExerciseResult: ledger.Text("whatever"), ActingParties: []string{forger}, Consuming: true,
					WitnessParties: []string{treasury},
				}))
			})
		})
	}
}

// The burned metadata of a registry's result is the registry's word, and
// mallory is the registry of her own instrument. She sends the treasury 5
// of it through her TransferFactory, her result saying burned = "abc";
// she offers it 5 more and withdraws the offer, her result saying burned =
// "-1". Neither burned amount is the treasury's fee (it sent nothing):
// the ParseError for it halted ingestion.
func TestMallorysBurnedInHerRegistrysResultDoesNotHaltIngestion(t *testing.T) {
	burned := func(v string) func(ledger.Value) (ledger.Value, bool) {
		return setTo(ledger.TextMapOf(map[string]string{
			tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: forger, tokenstd.MetaBurned: v}))
	}
	requireNotStoppedBy(t, "mallory's burned metadata", func(r *rig, w *ledgertest.TokenWorld) {
		r.append(w.Mint(forger, "100", malloryInstrument))
		pay := w.Transfer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "5", Reason: "acct-9", Instrument: malloryInstrument})
		editResult(t, pay, 0, []string{"meta", "values"}, burned("abc"))
		offer, cid := w.Offer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "5", Reason: "acct-9", Instrument: malloryInstrument})
		withdraw := w.Withdraw(cid)
		editResult(t, withdraw, 0, []string{"meta", "values"}, burned("-1"))
		r.append(pay, offer, withdraw)
	})
}

// A contract's interface view is computed by its template's code, and the
// view of mallory's template is hers: it may fail (the participant sends
// the error instead) or hold values the standard does not allow (a
// negative amount, an empty instrument id). She creates such contracts
// implementing Holding and TransferInstruction, signed by her alone, with
// the treasury as observer: they are no holding or instruction of the
// treasury's (the treasury did not sign them, and none both names the
// treasury and is signed by its instrument's admin), and must not halt
// its ingestion.
func TestMallorysMalformedViewsDoNotHaltIngestion(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(forger, "1000", malloryInstrument)
	var holding ledger.CreatedEvent
	for _, ev := range w.Mint(bob, "5", malloryInstrument).Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok {
			holding = *c
		}
	}
	require.NotEmpty(t, holding.ContractID)
	offer, icid := w.Offer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "5", Reason: "acct-9",
		Instrument: malloryInstrument})
	var instr ledger.CreatedEvent
	for _, ev := range offer.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == icid {
			instr = *c
		}
	}
	require.NotEmpty(t, instr.ContractID)

	n := 0
	hers := func(c ledger.CreatedEvent, edit func(v *ledger.InterfaceView)) *ledger.Transaction {
		n++
		c.ContractID = fmt.Sprintf("00malloryVIEW%d", n)
		c.NodeID, c.TemplateID = 0, forgedTemplate
		c.Signatories, c.Observers, c.WitnessParties = []string{forger}, []string{treasury}, []string{treasury}
		c.InterfaceViews = append([]ledger.InterfaceView(nil), c.InterfaceViews...)
		edit(&c.InterfaceViews[0])
		return malloryTx(&c)
	}
	failed := func(v *ledger.InterfaceView) {
		v.Value, v.StatusCode, v.StatusMessage = ledger.Value{}, 9, "UNHANDLED_EXCEPTION: mallory says no"
	}
	edit := func(path []string, to ledger.Value) func(v *ledger.InterfaceView) {
		return func(v *ledger.InterfaceView) { v.Value = editValue(t, v.Value, path, setTo(to)) }
	}
	for name, tx := range map[string]*ledger.Transaction{
		"holding, view failed":         hers(holding, failed),
		"holding, negative amount":     hers(holding, edit([]string{"amount"}, ledger.Numeric("-5.0"))),
		"holding, empty instrument id": hers(holding, edit([]string{"instrumentId", "id"}, ledger.Text(""))),
		"holding, the treasury's Amulet, negative amount": hers(holding, func(v *ledger.InterfaceView) {
			v.Value = editValue(t, v.Value, []string{"owner"}, setTo(ledger.Party(treasury)))
			v.Value = editValue(t, v.Value, []string{"instrumentId", "admin"}, setTo(ledger.Party(w.Instrument().Admin)))
			v.Value = editValue(t, v.Value, []string{"amount"}, setTo(ledger.Numeric("-5.0")))
		}),
		"instruction, view failed":     hers(instr, failed),
		"instruction, negative amount": hers(instr, edit([]string{"transfer", "amount"}, ledger.Numeric("-5.0"))),
	} {
		t.Run(name, func(t *testing.T) {
			requireNotStoppedBy(t, "mallory's contract ("+name+")", func(r *rig, _ *ledgertest.TokenWorld) { r.append(tx) })
		})
	}
}

// What may be the treasury's is still read strictly: a holding its
// instrument's admin signed whose view names the treasury as owner (here
// mallory's own instrument, a negative amount), and a contract the
// treasury signed whose view failed (its Amulet holding), halt ingestion
// naming the transaction: losing a deposit silently is worse.
func TestMalformedViewOfWhatMayBeTheTreasurysStillHalts(t *testing.T) {
	for _, c := range []struct {
		name string
		mal  bool // mallory sends her own instrument (else alice Amulet)
		edit func(h *ledger.CreatedEvent)
	}{
		{"mallory's instrument, negative amount", true, func(h *ledger.CreatedEvent) {
			h.InterfaceViews[0].Value = editValue(t, h.InterfaceViews[0].Value, []string{"amount"}, setTo(ledger.Numeric("-5.0")))
		}},
		{"Amulet, view failed", false, func(h *ledger.CreatedEvent) {
			require.Contains(t, h.Signatories, treasury)
			v := &h.InterfaceViews[0]
			v.Value, v.StatusCode, v.StatusMessage = ledger.Value{}, 9, "UNHANDLED_EXCEPTION"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			w, cp := committedDeposit(t, r, ingest.PoisonHalt)
			spec := ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"}
			if c.mal {
				r.append(w.Mint(forger, "100", malloryInstrument))
				spec.Sender, spec.Instrument = forger, malloryInstrument
			}
			tx := w.Transfer(spec)
			c.edit(treasuryHolding(t, tx))
			bad := r.append(tx)[0]
			err := r.run(ingest.PoisonHalt)
			require.GreaterOrEqual(t, r.checkpoint(), cp)
			require.Less(t, r.checkpoint(), bad.Offset, "checkpoint moved past an unapplied transaction")
			requireNamesTx(t, err, bad)
		})
	}
}

// A depositor writes the metadata of her transfer (transfer.meta,
// extraArgs.meta) as she likes, a NUL character included, which
// PostgreSQL text and jsonb cannot hold. Her deposit's text must not stop
// the treasury's ingestion, nor lose the deposit: one whose note holds a
// NUL is credited to its account, one whose reason does is recorded as
// unassigned (no usable account), for its amount.
func TestNULInADepositorsMetadataDoesNotHaltIngestion(t *testing.T) {
	r := requireNotStoppedBy(t, "NUL characters in deposits' metadata", func(r *rig, w *ledgertest.TokenWorld) {
		r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "3", Reason: "acct-4",
			Meta: map[string]string{"note": "hi\x00there", "x\x00": "y"}}))
		r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "4", Reason: "acct-4",
			ExtraMeta: map[string]string{"note": "\x00"}}))
		r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-5\x00"}))
		offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "6", Reason: "acct-4",
			Meta: map[string]string{"note": "\x00"}})
		r.append(offer, w.Accept(cid))
	})
	require.Equal(t, 3, r.count(`SELECT count(*) FROM tokens.token_history
		WHERE kind = 'deposit' AND account = 'acct-4' AND amount IN (3, 4, 6)`), "deposits with a NUL in their notes")
	require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history
		WHERE kind = 'deposit_unassigned' AND amount = 5`), "the deposit with a NUL in its reason")
}

// A choice's tx-kind metadata makes the exercise one operation, its
// sub-events not looked at again. Mallory sends the treasury 10 Amulet for
// acct-8, a genuine transfer through the TransferFactory interface, from
// inside a choice of her own contract whose argument's meta says tx-kind
// burn, mint, merge-split, unlock or one of her own, with the treasury as
// a choice observer. Her choice is not the
// registry's: the transfer inside it is a deposit, credited to acct-8, not
// a fee, a mint or an entry of another kind that credits no one.
func TestMallorysTxKindAroundADepositDoesNotSwallowIt(t *testing.T) {
	for _, kind := range []string{tokenstd.TxKindBurn, tokenstd.TxKindMint, tokenstd.TxKindMergeSplit, tokenstd.TxKindUnlock, "mallory-kind"} {
		t.Run(kind, func(t *testing.T) {
			r := requireNotStoppedBy(t, "mallory's tx-kind "+kind, func(r *rig, w *ledgertest.TokenWorld) {
				r.append(w.Mint(forger, "100"))
				wrapped := w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: forger, Choice: "Mallory_Wrap"},
					w.TransferOp(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "10", Reason: "acct-8"})))
				editArg(t, wrapped, 0, nil, addField("meta", metadataValue(map[string]string{tokenstd.MetaTxKind: kind})))
				// The treasury a choice observer: it sees her exercise.
				root := wrapped.Events[0].(*ledger.ExercisedEvent)
				root.WitnessParties = append(root.WitnessParties, treasury)
				r.append(wrapped)
			})
			require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history
				WHERE kind = 'deposit' AND account = 'acct-8' AND amount = 10`), "mallory's deposit inside her tx-kind %s", kind)
		})
	}
}

// An interface is named by its package, module and entity; module names
// are not reserved. Mallory's own package declares an interface in a
// module named Splice.Api.Token.TransferInstructionV1, entity
// TransferInstruction or TransferFactory, whose choices take and return
// types of her own; she exercises them on her contract, the treasury an
// observer. Read as the standard's, their arguments are malformed: a
// ParseError that halted ingestion. Likewise for an interface of hers in
// a module named as a version 2 of the standard's: an unsupported
// version, which halted ingestion.
func TestMallorysInterfaceNamedAsAStandardOneDoesNotHaltIngestion(t *testing.T) {
	for _, c := range []struct{ module, entity, choice string }{
		{"Splice.Api.Token.TransferInstructionV1", "TransferFactory", "TransferFactory_Transfer"},
		{"Splice.Api.Token.TransferInstructionV1", "TransferInstruction", "TransferInstruction_Withdraw"},
		// A version this package does not read: that of an interface of
		// hers, not the standard's.
		{"Splice.Api.Token.TransferInstructionV2", "TransferInstruction", "TransferInstruction_Withdraw"},
		{"Splice.Api.Token.HoldingV2", "Holding", "Mallory_Anything"},
	} {
		t.Run(c.module+":"+c.choice, func(t *testing.T) {
			iface := ledger.Identifier{PackageID: "mallorypkg", ModuleName: c.module, EntityName: c.entity}
			requireNotStoppedBy(t, "mallory's own interface choice "+c.choice, func(r *rig, _ *ledgertest.TokenWorld) {
				r.append(malloryTx(&ledger.ExercisedEvent{
					ContractID: "00malloryIFACE", TemplateID: forgedTemplate, InterfaceID: &iface, Choice: c.choice,
					ImplementedInterfaces: []ledger.Identifier{iface},
					ChoiceArgument:        ledger.Record(nil, ledger.F("anything", ledger.Int64(1))),
					ExerciseResult:        ledger.Text("whatever"), ActingParties: []string{forger}, Consuming: true,
					WitnessParties: []string{treasury},
				}))
			})
		})
	}
}
