package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// asRegistrySettlement turns a wrapped batch (the treasury's view of a
// WrapOp) into a registry's own choice on its own contract that says tx-kind
// transfer, and the instruction choices inside it into the registry's own
// choices on the instructions: the registry settles several instructions
// at once.
func asRegistrySettlement(t *testing.T, tx *ledger.Transaction, admin string, instructions int) *ledger.Transaction {
	t.Helper()
	out := cloneTx(tx)
	root := out.Events[0].(*ledger.ExercisedEvent)
	root.ContractID, root.Choice, root.InterfaceID, root.ImplementedInterfaces = "00registryRULES", "Registry_Settle", nil, nil
	root.Consuming = false
	root.ActingParties = []string{admin}
	root.ExerciseResult = ledger.Record(nil, ledger.F("meta",
		metadataValue(map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer})))
	n := 0
	for _, ev := range out.Events[1:] {
		if x, ok := ev.(*ledger.ExercisedEvent); ok && x.InterfaceID != nil && x.InterfaceID.EntityName == "TransferInstruction" {
			x.InterfaceID, x.ImplementedInterfaces = nil, nil
			x.Choice = "Registry_Close"
			n++
		}
	}
	require.Equal(t, instructions, n, "instructions settled")
	return out
}

// The registry settles two incoming offers in one choice of its own: it
// returns alice's 25 (acct-1) to her and completes bob's 7 (acct-2). The
// treasury gained 7: bob's deposit, for acct-2. closedByTransfer took the
// first instruction closed whose transfer "moved" (for an incoming one:
// any gain), alice's: acct-1 was credited with bob's 7 and bob's deposit
// recorded as failed.
func TestRegistrySettlementCreditsTheCompletedOffer(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "60")
	w.Mint(bob, "20")
	offerA, cidA := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-1"})
	offerB, cidB := w.Offer(ledgertest.TransferSpec{Sender: bob, Receiver: treasury, Amount: "7", Reason: "acct-2"})
	settle := asRegistrySettlement(t, view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury},
		w.RejectOp(cidA), w.AcceptOp(cidB)))), w.Instrument().Admin, 2)
	es := classifyAfter(t, settle, view(offerA), view(offerB))
	byCID := byInstruction(es)
	require.Equal(t, tokenstd.KindDeposit, byCID[cidB].Kind, "bob's completed offer: %+v", es)
	require.Equal(t, "acct-2", byCID[cidB].Account)
	requireDecimal(t, "7", byCID[cidB].Amount)
	require.NotEqual(t, tokenstd.KindDeposit, byCID[cidA].Kind, "alice's returned offer credited to acct-1: %+v", byCID[cidA])
}

// The registry's choice returns alice's offer of 25 (acct-1) to her and,
// in the same choice, passes on a direct payment of 7 from bob to the
// treasury. The treasury gained 7, not alice's 25: her offer was not
// completed, and acct-1 must not be credited with bob's payment. The one
// instruction closed was taken as done because the treasury gained
// something.
func TestRegistryChoiceReturningAnOfferIsNoDepositOfIt(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "60")
	w.Mint(bob, "20")
	offerA, cidA := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-1"})
	settle := asRegistrySettlement(t, view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury},
		w.RejectOp(cidA), w.TransferOp(ledgertest.TransferSpec{Sender: bob, Receiver: treasury, Amount: "7"})))), w.Instrument().Admin, 1)
	es := classifyAfter(t, settle, view(offerA))
	for _, e := range es {
		require.False(t, e.Kind == tokenstd.KindDeposit && e.Account == "acct-1",
			"acct-1 credited with %s though alice's offer was returned: %+v", e.Amount, es)
	}
}

// The registry settles two of the treasury's outgoing instructions, wd-1
// (5 to bob) and wd-2 (10 to alice), in one choice of its own.
//   - It returns wd-1's 5 to the treasury and completes wd-2: the treasury
//     lost 10, wd-2 completed, wd-1 failed. closedByTransfer took wd-1 (the
//     treasury lost at least its 5) as the completed withdrawal, with a fee
//     of 5, and recorded wd-2, paid to alice, as failed: the reconciler
//     refunds it.
//   - It completes both: one entry per instrument can record only one of
//     them done, the other would be recorded as failed and its withdrawal
//     refunded though it was paid. The transaction is a ParseError naming
//     it, for a person to review.
func TestRegistrySettlementOfTwoWithdrawals(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	settle := func(t *testing.T, bothPaid bool) (es []tokenstd.Entry, err error, settled *ledger.Transaction, cid1, cid2 string) {
		w := &ledgertest.TokenWorld{Sequence: true}
		mint := w.Mint(treasury, "100")
		offer1, cid1 := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "5", Reason: "wd-1"})
		offer2, cid2 := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Reason: "wd-2"})
		var first ledgertest.TokenOp
		if bothPaid {
			first = w.AcceptOp(cid1)
		} else {
			first = w.WithdrawOp(cid1)
		}
		settled = asRegistrySettlement(t, view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury},
			first, w.AcceptOp(cid2)))), w.Instrument().Admin, 2)
		set := tokenstd.NewHoldingSet()
		for _, tx := range []*ledger.Transaction{view(mint), view(offer1), view(offer2)} {
			es, err := tokenstd.Classify(tx, treasury, set)
			require.NoError(t, err)
			set.Apply(es)
		}
		es, err = tokenstd.Classify(settled, treasury, set)
		return es, err, settled, cid1, cid2
	}

	t.Run("one paid", func(t *testing.T) {
		es, err, _, cid1, cid2 := settle(t, false)
		require.NoError(t, err)
		byCID := map[string]tokenstd.Entry{}
		for _, e := range es {
			byCID[e.InstructionCID] = e
		}
		require.Equal(t, tokenstd.KindWithdrawal, byCID[cid2].Kind, "wd-2, paid to alice: %+v", es)
		require.Equal(t, "wd-2", byCID[cid2].WithdrawalID)
		require.Equal(t, alice, byCID[cid2].Receiver)
		requireDecimal(t, "10", byCID[cid2].Transferred)
		require.NotEqual(t, tokenstd.KindWithdrawal, byCID[cid1].Kind, "wd-1, returned to the treasury: %+v", byCID[cid1])
	})
	t.Run("both paid", func(t *testing.T) {
		es, err, settled, _, _ := settle(t, true)
		var pe *tokenstd.ParseError
		require.ErrorAs(t, err, &pe, "both withdrawals paid in one registry choice: %+v", es)
		require.Equal(t, settled.UpdateID, pe.UpdateID)
		require.ErrorContains(t, err, "which of them were done cannot be told")
	})
}

// The registry settles two incoming offers of the same amount in one choice
// of its own: it returns alice's 25 (acct-1) to her and completes bob's 25
// (acct-2), each inside its own choice on the instruction. The treasury
// gained 25 inside the choice on bob's instruction: bob's deposit, for
// acct-2. closedByTransfer took the first instruction closed whose amount
// equals the gain, alice's: acct-1 was credited with bob's 25, and bob's
// deposit recorded as failed. In either order of the two, the account
// credited must be the one whose offer was completed.
func TestRegistrySettlementOfTwoEqualOffersCreditsTheCompletedOne(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	for _, aliceFirst := range []bool{true, false} {
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "60")
		w.Mint(bob, "60")
		offerA, cidA := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-1"})
		offerB, cidB := w.Offer(ledgertest.TransferSpec{Sender: bob, Receiver: treasury, Amount: "25", Reason: "acct-2"})
		var ops []ledgertest.TokenOp
		if aliceFirst {
			ops = []ledgertest.TokenOp{w.RejectOp(cidA), w.AcceptOp(cidB)}
		} else {
			ops = []ledgertest.TokenOp{w.AcceptOp(cidB), w.RejectOp(cidA)}
		}
		settle := asRegistrySettlement(t, view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury}, ops...))), w.Instrument().Admin, 2)
		es := classifyAfter(t, settle, view(offerA), view(offerB))
		byCID := map[string]tokenstd.Entry{}
		for _, e := range es {
			byCID[e.InstructionCID] = e
		}
		require.Equal(t, tokenstd.KindDeposit, byCID[cidB].Kind, "alice first: %v; bob's completed offer: %+v", aliceFirst, es)
		require.Equal(t, "acct-2", byCID[cidB].Account)
		requireDecimal(t, "25", byCID[cidB].Amount)
		require.NotEqual(t, tokenstd.KindDeposit, byCID[cidA].Kind, "alice first: %v; alice's returned offer credited to acct-1: %+v", aliceFirst, byCID[cidA])
	}
}

// The same settlement with the registry's choices on the instructions
// archiving them only, and the funds moved beside them: which offer was
// completed cannot be told, and a guess may credit the wrong account. The
// transaction is a ParseError naming it, for a person to review, as for
// outgoing instructions.
func TestRegistrySettlementOfTwoEqualOffersThatCannotBeToldApart(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "60")
	w.Mint(bob, "60")
	offerA, cidA := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-1"})
	offerB, cidB := w.Offer(ledgertest.TransferSpec{Sender: bob, Receiver: treasury, Amount: "25", Reason: "acct-2"})
	settle := asRegistrySettlement(t, view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury},
		w.RejectOp(cidA), w.AcceptOp(cidB)))), w.Instrument().Admin, 2)
	// Nodes: 0 the settlement; 1..3 alice's instruction closed; 4..7
	// bob's, whose last node (7) creates the treasury's holding. Make the
	// choices on the instructions (1 and 4) leaves: their sub-events
	// become the settlement's.
	require.Len(t, settle.Events, 8)
	for _, n := range []int{1, 4} {
		settle.Events[n].(*ledger.ExercisedEvent).LastDescendantNodeID = int32(n)
	}
	set := tokenstd.NewHoldingSet()
	for _, tx := range []*ledger.Transaction{view(offerA), view(offerB)} {
		es, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(es)
	}
	es, err := tokenstd.Classify(settle, treasury, set)
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe, "%+v", es)
	require.Equal(t, settle.UpdateID, pe.UpdateID)
	require.Equal(t, settle.Offset, pe.Offset)
	require.ErrorContains(t, err, "cannot be told")
}

// TestRegistryChoiceReturningAnOfferIsNoDepositOfIt with a direct payment
// of the same amount as the returned offer: the registry's choice returns
// alice's 25 (acct-1) to her inside its choice on her instruction and, in
// the same settlement, passes on bob's direct payment of 25. The treasury's
// gain equals alice's offer, but was not made inside the choice that
// closed it: acct-1 must not be credited with bob's 25 (alice has her 25
// back).
func TestRegistryChoiceReturningAnOfferOfTheAmountPaidIsNoDepositOfIt(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "60")
	w.Mint(bob, "60")
	offerA, cidA := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-1"})
	settle := asRegistrySettlement(t, view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury},
		w.RejectOp(cidA), w.TransferOp(ledgertest.TransferSpec{Sender: bob, Receiver: treasury, Amount: "25"})))), w.Instrument().Admin, 1)
	es := classifyAfter(t, settle, view(offerA))
	for _, e := range es {
		require.False(t, e.Kind == tokenstd.KindDeposit && e.Account == "acct-1",
			"acct-1 credited with %s though alice's offer was returned to her: %+v", e.Amount, es)
	}
}

// A registry's choice whose choice on bob's instruction releases his locked
// funds below it and pays the treasury beside it (the treasury's 25 created
// outside that choice) completed bob's offer: a deposit for acct-2. Only
// funds going back to the sender below the choice tell that it did not.
func TestRegistrySettlementPayingBesideTheInstructionsChoice(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(bob, "60")
	offerB, cidB := w.Offer(ledgertest.TransferSpec{Sender: bob, Receiver: treasury, Amount: "25", Reason: "acct-2"})
	settle := asRegistrySettlement(t, view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury}, w.AcceptOp(cidB)))), w.Instrument().Admin, 1)
	// Nodes: 0 the settlement; 1 bob's instruction closed, 2 the transfer
	// below it, 3 the archive of his locked funds, 4 the treasury's
	// holding. Make 4 a child of the settlement itself.
	require.Len(t, settle.Events, 5)
	for _, n := range []int{1, 2} {
		settle.Events[n].(*ledger.ExercisedEvent).LastDescendantNodeID = 3
	}
	es := classifyAfter(t, settle, view(offerB))
	require.Len(t, es, 1, "%+v", es)
	require.Equal(t, tokenstd.KindDeposit, es[0].Kind, "%+v", es[0])
	require.Equal(t, "acct-2", es[0].Account)
	require.Equal(t, cidB, es[0].InstructionCID)
}

// The registry settles two of the treasury's withdrawals to the same
// receiver (wd-1, 5 to bob, and wd-2, 10 to bob: two withdrawals of one
// user, or to another exchange's treasury) in one choice of its own: it
// returns wd-1's 5 to the treasury inside its choice on wd-1's instruction
// and pays wd-2 inside its choice on wd-2's. Which was paid can be told:
// bob got his holding below the choice on wd-2. closedByTransfer counted
// bob as paid for both (he got a holding somewhere in the settlement) and
// refused the transaction as ambiguous: under Halt, ingestion stops on an
// ordinary settlement.
func TestRegistrySettlementOfTwoWithdrawalsToOneReceiver(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := w.Mint(treasury, "100")
	offer1, cid1 := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "5", Reason: "wd-1"})
	offer2, cid2 := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10", Reason: "wd-2"})
	settled := asRegistrySettlement(t, view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury},
		w.WithdrawOp(cid1), w.AcceptOp(cid2)))), w.Instrument().Admin, 2)
	set := tokenstd.NewHoldingSet()
	for _, tx := range []*ledger.Transaction{view(mint), view(offer1), view(offer2)} {
		es, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(es)
	}
	es, err := tokenstd.Classify(settled, treasury, set)
	require.NoError(t, err, "wd-1 returned, wd-2 paid below their own choices")
	byCID := byInstruction(es)
	require.Equal(t, tokenstd.KindWithdrawal, byCID[cid2].Kind, "wd-2, paid to bob: %+v", es)
	require.Equal(t, "wd-2", byCID[cid2].WithdrawalID)
	requireDecimal(t, "10", byCID[cid2].Transferred)
	require.NotEqual(t, tokenstd.KindWithdrawal, byCID[cid1].Kind, "wd-1, returned to the treasury: %+v", byCID[cid1])
}

// The registry settles two of the treasury's outgoing instructions, wd-1
// (5 to bob) and wd-2 (10 to alice), in one choice of its own. Its choice
// on each instruction unlocks the treasury's locked funds (sub-events: the
// treasury gets its holding back inside it); wd-1 stops there, returned,
// and wd-2 is paid beside it, by a transfer of 10 from the treasury to
// alice. The treasury lost 10, alice got 10: wd-2 completed, wd-1 failed,
// as the classification said before receivers were looked for only below
// the choice on their instruction. Now alice's holding, beside wd-2's
// choice, pays neither: neither of two candidates is seen paid, and the
// settlement is a ParseError (ingestion stops under Halt).
func TestRegistrySettlementPayingBesideTheUnlockingChoice(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := w.Mint(treasury, "100")
	offer1, cid1 := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "5", Reason: "wd-1"})
	offer2, cid2 := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10", Reason: "wd-2"})
	settled := asRegistrySettlement(t, view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury},
		w.WithdrawOp(cid1), w.WithdrawOp(cid2),
		w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "10"})))), w.Instrument().Admin, 2)
	set := tokenstd.NewHoldingSet()
	for _, tx := range []*ledger.Transaction{view(mint), view(offer1), view(offer2)} {
		es, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(es)
	}
	es, err := tokenstd.Classify(settled, treasury, set)
	require.NoError(t, err, "wd-2 paid to alice beside its unlocking choice, wd-1 returned")
	byCID := byInstruction(es)
	require.Equal(t, tokenstd.KindWithdrawal, byCID[cid2].Kind, "wd-2, paid to alice: %+v", es)
	require.Equal(t, "wd-2", byCID[cid2].WithdrawalID)
	require.Equal(t, alice, byCID[cid2].Receiver)
	requireDecimal(t, "10", byCID[cid2].Transferred)
	require.NotEqual(t, tokenstd.KindWithdrawal, byCID[cid1].Kind, "wd-1, returned to the treasury: %+v", byCID[cid1])
}

// byInstruction indexes entries by the instruction they concern (the last
// one of each).
func byInstruction(es []tokenstd.Entry) map[string]tokenstd.Entry {
	m := map[string]tokenstd.Entry{}
	for _, e := range es {
		m[e.InstructionCID] = e
	}
	return m
}
