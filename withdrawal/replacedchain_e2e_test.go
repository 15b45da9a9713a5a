package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// instrKit holds, for a transfer instruction a TokenWorld created, what is
// needed to build by hand the steps a registry takes on it and its
// successors: the instruction's created event (as the offer made it) and
// the receiver's acceptance of it (built by the world, not appended).
type instrKit struct {
	t       *testing.T
	created ledger.CreatedEvent
	accept  *ledger.Transaction
}

func newInstrKit(t *testing.T, w *ledgertest.TokenWorld, offer *ledger.Transaction, icid string) instrKit {
	t.Helper()
	k := instrKit{t: t}
	for _, ev := range offer.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == icid {
			k.created = *c
		}
	}
	require.Equal(t, icid, k.created.ContractID)
	k.accept = w.Accept(icid) // a template: not put on the ledger
	return k
}

// successor is the created event of instruction next, the same transfer
// as the kit's instruction, whose view names original as
// originalInstructionCid (the standard: "the contract id of the original
// transfer instruction").
func (k instrKit) successor(next, original string, node int32) *ledger.CreatedEvent {
	k.t.Helper()
	c := k.created
	view := c.InterfaceViews[0].Value
	viewID, ok := view.TypeID()
	require.True(k.t, ok)
	fields, err := view.AsRecord()
	require.NoError(k.t, err)
	var nf []ledger.Field
	for _, f := range fields {
		if f.Label == "originalInstructionCid" {
			f.Value = ledger.Some(ledger.ContractID(original))
		}
		nf = append(nf, f)
	}
	c.ContractID, c.NodeID, c.Offset = next, node, 0
	c.InterfaceViews = []ledger.InterfaceView{k.created.InterfaceViews[0]}
	c.InterfaceViews[0].Value = ledger.Record(&viewID, nf...)
	return &c
}

// registryAdvance is a registry's own consuming choice on instruction prev
// (not a token standard choice) that creates its successor next, the funds
// staying locked.
func (k instrKit) registryAdvance(prev, next, original string) *ledger.Transaction {
	root := *(k.accept.Events[0].(*ledger.ExercisedEvent))
	root.ContractID, root.Choice, root.InterfaceID, root.ImplementedInterfaces = prev, "RegistryTransferInstruction_Advance", nil, nil
	root.ActingParties = []string{ledgertest.TokenDefaultAdmin}
	root.ChoiceArgument = ledger.Record(nil)
	root.ExerciseResult = ledger.Record(nil, ledger.F("nextInstructionCid", ledger.ContractID(next)))
	root.NodeID, root.LastDescendantNodeID, root.Offset = 0, 1, 0
	return &ledger.Transaction{Events: []ledger.Event{&root, k.successor(next, original, 1)}}
}

// registryAdvanceFromRules is a registry's choice on its own contract that
// archives instruction prev and creates its successor next as siblings.
func (k instrKit) registryAdvanceFromRules(prev, next, original string) *ledger.Transaction {
	root := *(k.accept.Events[0].(*ledger.ExercisedEvent))
	archive := root
	root.ContractID, root.Choice, root.InterfaceID, root.ImplementedInterfaces = "00registryRULES", "Registry_AdvanceTransfer", nil, nil
	root.Consuming = false
	root.ActingParties = []string{ledgertest.TokenDefaultAdmin}
	root.ChoiceArgument = ledger.Record(nil, ledger.F("instructionCid", ledger.ContractID(prev)))
	root.ExerciseResult = ledger.Record(nil, ledger.F("nextInstructionCid", ledger.ContractID(next)))
	root.NodeID, root.LastDescendantNodeID, root.Offset = 0, 2, 0
	archive.ContractID, archive.Choice, archive.InterfaceID, archive.ImplementedInterfaces = prev, "Archive", nil, nil
	archive.Consuming = true
	archive.ActingParties = []string{ledgertest.TokenDefaultAdmin}
	archive.ChoiceArgument = ledger.Record(nil)
	archive.ExerciseResult = ledger.Unit()
	archive.NodeID, archive.LastDescendantNodeID, archive.Offset = 1, 1, 0
	return &ledger.Transaction{Events: []ledger.Event{&root, &archive, k.successor(next, original, 2)}}
}

// acceptOf is the receiver's acceptance (completed) of instruction cid: the
// kit's acceptance, exercised on cid.
func (k instrKit) acceptOf(cid string) *ledger.Transaction {
	out := &ledger.Transaction{}
	for i, ev := range k.accept.Events {
		switch x := ev.(type) {
		case *ledger.ExercisedEvent:
			c := *x
			if i == 0 {
				c.ContractID = cid
			}
			c.Offset = 0
			out.Events = append(out.Events, &c)
		case *ledger.CreatedEvent:
			c := *x
			c.Offset = 0
			out.Events = append(out.Events, &c)
		default:
			out.Events = append(out.Events, ev)
		}
	}
	return out
}

// A registry that evolves a transfer instruction in several steps with its
// own choices: offer A, then A advanced to B, then B advanced to C, each
// successor's view naming the original instruction A as
// originalInstructionCid, as the token standard defines the field (and as
// tokenstd's doc accepts: "names it (or its original)"). The steps come
// minutes apart, so the Ingester commits them in different batches, and it
// is restarted in between. The withdrawal must stay pending on the latest
// instruction, unrefunded, and complete once C is accepted.
func TestThreeStepRegistryChainAcrossBatches(t *testing.T) {
	t.Run("choice on the instruction", func(t *testing.T) { threeStepChain(t, instrKit.registryAdvance) })
	t.Run("choice on the registry's contract", func(t *testing.T) { threeStepChain(t, instrKit.registryAdvanceFromRules) })
}

func threeStepChain(t *testing.T, advance func(k instrKit, prev, next, original string) *ledger.Transaction) {
	db := pgtest.NewDB(t)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	l.startIngester()
	cids := l.mint("80")
	l.caughtUp()
	w, err := l.store.Create(l.ctx, l.request("wd-chain", "60", cids...))
	require.NoError(t, err)

	offer, a := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "60",
		InputHoldings: cids, Reason: w.ID, Fee: "0.5"})
	kit := newInstrKit(t, l.world, offer, a)
	l.append(offer)
	l.caughtUp()
	require.Equal(t, withdrawal.StatusPendingAcceptance, l.get(w.ID).Status)

	l.append(advance(kit, a, "00instrB", a))
	l.caughtUp()
	got := l.get(w.ID)
	require.Equal(t, withdrawal.StatusPendingAcceptance, got.Status)
	require.Equal(t, "00instrB", got.InstructionCID)

	// A restart of the Ingester: B comes back from token_instruction.
	l.stopIngester()
	l.startIngester()

	l.append(advance(kit, "00instrB", "00instrC", a))
	l.caughtUp()
	got = l.get(w.ID)
	require.Equal(t, withdrawal.StatusPendingAcceptance, got.Status, "the registry's third step ended the withdrawal")
	require.Equal(t, "00instrC", got.InstructionCID)
	require.Empty(t, refunds(t, db), "refunded while the transfer goes on")

	l.append(kit.acceptOf("00instrC"))
	l.caughtUp()
	got = l.get(w.ID)
	require.Equal(t, withdrawal.StatusCompleted, got.Status)
	require.Empty(t, refunds(t, db), "paid out and refunded")

	var outcomes []string
	require.NoError(t, db.Select(&outcomes, `SELECT contract_id || ' ' || COALESCE(outcome, 'open') FROM `+
		schema.Qualify(schema.DefaultName, tokenstd.InstructionTable)+` ORDER BY created_offset`))
	require.Equal(t, []string{a + " replaced", "00instrB replaced", "00instrC withdrawal"}, outcomes)
	l.requireBalancesMatch()
}
