package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A registry's own transfer choice (tx-kind transfer, sender the
// treasury, reason wd-1) that pays 40 Amulet to alice and takes a fee of
// 0.5 USDX, a second instrument, from the treasury. Only the Amulet entry
// is the withdrawal; the USDX loss is a fee in a second instrument, which
// the package records as `other` (as it does through
// TransferFactory_Transfer). The old code made it a second withdrawal
// with the same withdrawal id, "transferring" 0.5 USDX to alice, who got
// no USDX: the reconciler then sees two outcomes for wd-1.
func TestTxKindTransferFeeInSecondInstrumentIsNotAWithdrawal(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	usd := ledgertest.TokenInstrument{Admin: "registry::1220r9", ID: "USDX"}
	for _, sender := range []string{treasury, ""} {
		w := &ledgertest.TokenWorld{Sequence: true}
		m1 := view(w.Mint(treasury, "100"))
		m2 := view(w.Mint(treasury, "10", usd))
		pay := view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury, Choice: "Registry_Transfer"},
			w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "40", Reason: "wd-1"}),
			w.BurnOp(treasury, "0.5", usd))))
		meta := map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaReason: "wd-1"}
		if sender != "" {
			meta[tokenstd.MetaSender] = sender
		}
		editResult(t, pay, 0, nil, addField("meta", metadataValue(meta)))
		es := classifyAfter(t, pay, m1, m2)
		require.Len(t, es, 2, "sender %q: %+v", sender, es)
		var withdrawals int
		for _, e := range es {
			switch e.Instrument.ID {
			case "Amulet":
				require.Equal(t, tokenstd.KindWithdrawal, e.Kind, "sender %q: %+v", sender, e)
				require.Equal(t, "wd-1", e.WithdrawalID)
				requireDecimal(t, "40", e.Transferred)
				require.Equal(t, alice, e.Receiver)
				withdrawals++
			case "USDX":
				require.Equal(t, tokenstd.KindOther, e.Kind,
					"sender %q: the USDX fee became %s of %s to %q, withdrawal id %q", sender, e.Kind, e.Transferred, e.Receiver, e.WithdrawalID)
				require.Empty(t, e.WithdrawalID)
				requireDecimal(t, "-0.5", e.Amount)
			}
		}
		require.Equal(t, 1, withdrawals)
	}
}

// An exercise whose last descendant lies past that of its enclosing
// exercise contradicts the tree the node ids describe. The old code took
// it as it came: the transfer at node 0 (made to end at node 2) lost its
// treasury holding at node 3 to a loose change, so the deposit of 40 for
// acct-1 became two `other` entries, silently, instead of a ParseError
// naming the transaction and node.
func TestImproperlyNestedExerciseIsAParseError(t *testing.T) {
	tx := cloneTx(badBase(t))
	tx.Events[0].(*ledger.ExercisedEvent).LastDescendantNodeID = 2 // node 1 still claims nodes 2..4
	es, err := tokenstd.Classify(tx, treasury, nil)
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe, "entries: %+v", es)
	require.Equal(t, tx.UpdateID, pe.UpdateID)
	require.Equal(t, tx.Offset, pe.Offset)
	require.Equal(t, int32(1), pe.NodeID)
}

// completedFromRegistry rewrites the acceptance acc of instruction cid as a
// registry's own choice on its own contract (not on the instruction), as in
// TestInstructionAdvancedFromTheRegistrysContract: the root, saying tx-kind
// transfer (and naming sender), archives the instruction at node 1, and the
// acceptance's sub-events follow, moving the funds to the receiver.
func completedFromRegistry(t *testing.T, acc *ledger.Transaction, cid, admin, sender string) *ledger.Transaction {
	t.Helper()
	x0 := *(acc.Events[0].(*ledger.ExercisedEvent))
	require.Equal(t, cid, x0.ContractID)
	root := x0
	root.ContractID, root.Choice, root.InterfaceID, root.ImplementedInterfaces = "00registryRULES", "Registry_CompleteTransfer", nil, nil
	root.Consuming = false
	root.ActingParties = []string{admin}
	root.ChoiceArgument = ledger.Record(nil, ledger.F("instructionCid", ledger.ContractID(cid)))
	root.ExerciseResult = ledger.Record(nil, ledger.F("meta",
		metadataValue(map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: sender})))
	archive := x0
	archive.Choice, archive.InterfaceID, archive.ImplementedInterfaces = "Archive", nil, nil
	archive.Consuming = true
	archive.ActingParties = []string{admin}
	archive.ChoiceArgument = ledger.Record(nil)
	archive.ExerciseResult = ledger.Unit()
	archive.NodeID, archive.LastDescendantNodeID = 1, 1
	evs := []ledger.Event{&root, &archive}
	last := int32(1)
	for _, ev := range acc.Events[1:] {
		switch e := ev.(type) {
		case *ledger.ExercisedEvent:
			c := *e
			c.NodeID, c.LastDescendantNodeID = c.NodeID+1, c.LastDescendantNodeID+1
			evs = append(evs, &c)
			last = max(last, c.LastDescendantNodeID)
		case *ledger.CreatedEvent:
			c := *e
			c.NodeID++
			evs = append(evs, &c)
			last = max(last, c.NodeID)
		}
	}
	root.NodeID, root.LastDescendantNodeID = 0, last
	out := *acc
	out.Events = evs
	return &out
}

// A transfer instruction completed by a registry's choice on the registry's
// own contract, which says tx-kind transfer, archives the instruction and
// moves the funds to the receiver: the transfer was done. The old code
// recorded the instruction as transfer_failed (withdrawal wd-1 failed: the
// reconciler refunds the user while the funds went to bob) next to a
// withdrawal carrying no withdrawal id; for an incoming offer, a
// transfer_failed entry next to a deposit without the offer's account
// (deposit_unassigned).
func TestInstructionCompletedFromTheRegistrysContract(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }

	t.Run("outgoing", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		mint := view(w.Mint(treasury, "100"))
		offer, cid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10", Fee: "0.25", Reason: "wd-1"})
		done := completedFromRegistry(t, view(w.Accept(cid)), cid, w.Instrument().Admin, treasury)
		es := classifyAfter(t, done, mint, view(offer))
		var kinds []tokenstd.Kind
		for _, e := range es {
			kinds = append(kinds, e.Kind)
		}
		require.Equal(t, []tokenstd.Kind{tokenstd.KindWithdrawal}, kinds, "%+v", es)
		e := es[0]
		require.Equal(t, "wd-1", e.WithdrawalID)
		require.Equal(t, cid, e.InstructionCID)
		requireDecimal(t, "10", e.Transferred)
		requireDecimal(t, "0.25", e.Fee)
		require.Equal(t, bob, e.Receiver)
	})

	t.Run("incoming", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "60")
		offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-2"})
		done := completedFromRegistry(t, view(w.Accept(cid)), cid, w.Instrument().Admin, alice)
		es := classifyAfter(t, done, view(offer))
		var kinds []tokenstd.Kind
		for _, e := range es {
			kinds = append(kinds, e.Kind)
		}
		require.Equal(t, []tokenstd.Kind{tokenstd.KindDeposit}, kinds, "%+v", es)
		require.Equal(t, "acct-2", es[0].Account)
		require.Equal(t, cid, es[0].InstructionCID)
		requireDecimal(t, "25", es[0].Amount)
	})
}
