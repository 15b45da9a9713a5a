package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// Transactions as a real participant projects Splice Amulet transfers to
// the treasury. The treasury is no informee of the sender's
// TransferFactory_Transfer: it sees the actions it is an informee of, with
// their subtrees, as the roots of its transaction, with the node ids of the
// whole transaction (not from 0, with gaps where the fetches and the
// actions it does not see were).

const rvDSO = ledgertest.TokenDefaultAdmin

var (
	rvAmuletPkg   = "rv131-splice-amulet"
	rvAmulet      = ledger.Identifier{PackageID: rvAmuletPkg, ModuleName: "Splice.Amulet", EntityName: "Amulet"}
	rvRules       = ledger.Identifier{PackageID: rvAmuletPkg, ModuleName: "Splice.AmuletRules", EntityName: "AmuletRules"}
	rvPreapproval = ledger.Identifier{PackageID: rvAmuletPkg, ModuleName: "Splice.AmuletRules", EntityName: "TransferPreapproval"}
	rvCoupon      = ledger.Identifier{PackageID: rvAmuletPkg, ModuleName: "Splice.Amulet", EntityName: "AppRewardCoupon"}
)

// rvNode is an event of a projected transaction and its children.
type rvNode struct {
	ev   ledger.Event
	kids []*rvNode
}

// rvTx numbers the roots' events in pre-order from start, one node id left
// out after each event (a fetch the stream does not show) and ten between
// roots, and returns the treasury's transaction.
func rvTx(updateID string, start int32, roots ...*rvNode) *ledger.Transaction {
	tx := &ledger.Transaction{UpdateID: updateID}
	next := start
	var walk func(n *rvNode)
	walk = func(n *rvNode) {
		id := next
		next += 2
		for _, k := range n.kids {
			walk(k)
		}
		switch e := n.ev.(type) {
		case *ledger.CreatedEvent:
			e.NodeID, e.WitnessParties = id, []string{treasury}
		case *ledger.ExercisedEvent:
			e.NodeID, e.LastDescendantNodeID, e.WitnessParties = id, next-2, []string{treasury}
		}
		tx.Events = append(tx.Events, n.ev)
	}
	for _, r := range roots {
		walk(r)
		next += 10 // actions of the transaction the treasury does not see
	}
	return tx
}

func rvAmuletCreate(cid, owner, amount string) *rvNode {
	inst := ledger.Record(nil, ledger.F("admin", ledger.Party(rvDSO)), ledger.F("id", ledger.Text("Amulet")))
	view := ledger.Record(nil,
		ledger.F("owner", ledger.Party(owner)),
		ledger.F("instrumentId", inst),
		ledger.F("amount", ledger.Numeric(amount)),
		ledger.F("lock", ledger.None()),
		ledger.F("meta", metadataValue(nil)))
	return &rvNode{ev: &ledger.CreatedEvent{
		ContractID: cid, TemplateID: rvAmulet, PackageName: "splice-amulet",
		CreateArguments: ledger.Record(&rvAmulet, ledger.F("dso", ledger.Party(rvDSO)), ledger.F("owner", ledger.Party(owner))),
		InterfaceViews:  []ledger.InterfaceView{{InterfaceID: ledgertest.TokenHoldingInterface, Value: view, ImplementationPackageID: rvAmuletPkg}},
		Signatories:     []string{rvDSO, owner},
	}}
}

// rvArchive is fetchAndArchive of an amulet: Archive by its signatories.
func rvArchive(cid, owner string) *rvNode {
	return &rvNode{ev: &ledger.ExercisedEvent{
		ContractID: cid, TemplateID: rvAmulet, Choice: "Archive", PackageName: "splice-amulet",
		ChoiceArgument: ledger.Record(nil), ExerciseResult: ledger.Unit(),
		ActingParties: []string{rvDSO, owner}, Consuming: true,
		ImplementedInterfaces: []ledger.Identifier{ledgertest.TokenHoldingInterface},
	}}
}

// rvCouponCreate is a contract that is no holding (a reward coupon).
func rvCouponCreate(cid, provider string) *rvNode {
	return &rvNode{ev: &ledger.CreatedEvent{
		ContractID: cid, TemplateID: rvCoupon, PackageName: "splice-amulet",
		CreateArguments: ledger.Record(&rvCoupon, ledger.F("dso", ledger.Party(rvDSO)), ledger.F("provider", ledger.Party(provider))),
		Signatories:     []string{rvDSO},
	}}
}

func rvExercise(template ledger.Identifier, cid, choice string, actors []string, consuming bool, meta map[string]string, kids ...*rvNode) *rvNode {
	res := ledger.Record(nil, ledger.F("meta", ledger.None()))
	if meta != nil {
		res = ledger.Record(nil, ledger.F("meta", ledger.Some(metadataValue(meta))))
	}
	return &rvNode{kids: kids, ev: &ledger.ExercisedEvent{
		ContractID: cid, TemplateID: template, Choice: choice, PackageName: "splice-amulet",
		ChoiceArgument: ledger.Record(nil, ledger.F("sender", ledger.Party(alice))),
		ExerciseResult: res, ActingParties: actors, Consuming: consuming,
	}}
}

// rvSend is what the treasury sees of a 1-step transfer from sender to
// it through its TransferPreapproval (TransferFactory_Transfer with a
// preapproval in its context, or TransferCommand_Send): the exercise of
// TransferPreapproval_Send, whose result's metadata is AmuletRules_Transfer's
// (tx-kind, sender, burned) and the reason, and below it
// AmuletRules_Transfer, whose controllers include the receiver, archiving
// the sender's inputs and creating the receiver's amulet, the sender's
// change and the provider's reward coupon.
func rvSend(tag, sender string, inputs map[string]string, amount, change, burned, reason string) *rvNode {
	return rvSendTo(tag, sender, treasury, inputs, amount, change, burned, reason)
}

// rvSendTo is rvSend to the receiver's preapproval.
func rvSendTo(tag, sender, receiver string, inputs map[string]string, amount, change, burned, reason string) *rvNode {
	meta := map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: sender, tokenstd.MetaBurned: burned,
	}
	var kids []*rvNode
	for cid := range inputs {
		kids = append(kids, rvArchive(cid, sender))
	}
	kids = append(kids, rvAmuletCreate(tag+"-received", receiver, amount))
	if change != "" {
		kids = append(kids, rvAmuletCreate(tag+"-change", sender, change))
	}
	kids = append(kids, rvCouponCreate(tag+"-coupon", treasury))
	rules := rvExercise(rvRules, "amulet-rules", "AmuletRules_Transfer", []string{sender, receiver}, false, meta, kids...)
	sendMeta := map[string]string{}
	for k, v := range meta {
		sendMeta[k] = v
	}
	if reason != "" {
		sendMeta[tokenstd.MetaReason] = reason
	}
	return rvExercise(rvPreapproval, receiver+"-preapproval", "TransferPreapproval_Send", []string{sender}, false, sendMeta, rules)
}

// rvIngest appends the transactions to a fake participant, ingests them
// through History (and the withdrawal Reconciler) into PostgreSQL and
// returns the booked entries.
func rvIngest(t *testing.T, txs ...*ledger.Transaction) (*rig, []tokenstd.Entry) {
	t.Helper()
	r := newRig(t)
	r.append(txs...)
	require.NoError(t, r.run(ingest.PoisonHalt))
	es, err := tokenstd.ListEntries(r.b.ctx, r.b.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	return r, es
}

func rvBalance(t *testing.T, r *rig) string {
	t.Helper()
	bs, err := tokenstd.Balances(r.b.ctx, r.b.db, testSchema)
	require.NoError(t, err)
	return bs[tokenstd.Instrument{Admin: rvDSO, ID: "Amulet"}].String()
}

// The treasury's view of alice's 1-step deposit of 10 for acct-1 through
// the treasury's preapproval: one root (TransferPreapproval_Send) at node
// 3, not 0. One deposit of 10 to acct-1, the treasury holds 10.
func TestRV131PreapprovalDepositAsProjected(t *testing.T) {
	tx := rvTx("dep-1", 3, rvSend("d1", alice, map[string]string{"alice-in-1": "25"}, "10", "14.4", "0.6", "acct-1"))
	// alice's input is not the treasury's: no earlier holdings needed.
	r, es := rvIngest(t, tx)
	require.Len(t, es, 1, "%+v", es)
	e := es[0]
	require.Equal(t, tokenstd.KindDeposit, e.Kind, "%+v", e)
	require.Equal(t, "acct-1", e.Account)
	require.Equal(t, alice, e.Counterparty)
	require.Equal(t, int32(3), e.NodeID)
	requireDecimal(t, "10", e.Amount)
	require.True(t, e.Fee.IsZero(), "the sender's burned fee charged to the treasury: %s", e.Fee)
	require.Equal(t, "10", rvBalance(t, r))
}

// alice's wallet sends two deposits (acct-1, acct-2) in one command, and
// pays bob in between: the treasury sees two roots, with a gap between
// them. Two deposits, each at its root.
func TestRV131TwoPreapprovalDepositsInOneTransaction(t *testing.T) {
	tx := rvTx("dep-2", 7,
		rvSend("d1", alice, map[string]string{"alice-in-1": "25"}, "10", "14.4", "0.6", "acct-1"),
		rvSend("d2", alice, map[string]string{"alice-in-2": "5"}, "4", "", "1", "acct-2"))
	r, es := rvIngest(t, tx)
	require.Len(t, es, 2, "%+v", es)
	require.Equal(t, tokenstd.KindDeposit, es[0].Kind)
	require.Equal(t, "acct-1", es[0].Account)
	requireDecimal(t, "10", es[0].Amount)
	require.Equal(t, tokenstd.KindDeposit, es[1].Kind)
	require.Equal(t, "acct-2", es[1].Account)
	requireDecimal(t, "4", es[1].Amount)
	require.Equal(t, "14", rvBalance(t, r))
}

// rvShift moves a transaction's node ids by n, as the node ids of a whole
// transaction of which the treasury sees a part.
func rvShift(tx *ledger.Transaction, n int32) *ledger.Transaction {
	for _, ev := range tx.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			e.NodeID += n
		case *ledger.ExercisedEvent:
			e.NodeID += n
			e.LastDescendantNodeID += n
		case *ledger.ArchivedEvent:
			e.NodeID += n
		}
	}
	return tx
}

// rvOfferSeen is what the treasury sees of alice's 2-step offer to it: the
// creation of the transfer instruction, of which it is an observer, and
// nothing of the TransferFactory_Transfer that created it.
func rvOfferSeen(t *testing.T, tx *ledger.Transaction) *ledger.Transaction {
	t.Helper()
	out := *tx
	out.Events = nil
	for _, ev := range tx.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && len(c.InterfaceViews) > 0 &&
			c.InterfaceViews[0].InterfaceID.SameEntity(ledger.TransferInstructionInterface) {
			out.Events = append(out.Events, c)
		}
	}
	require.Len(t, out.Events, 1)
	return &out
}

// The exchange submits two commands in one transaction: a withdrawal to
// bob (20, with the treasury's change) and the acceptance of alice's 2-step
// deposit offer of 10 for acct-2. Two roots, not from node 0: a withdrawal
// and a deposit, and the balance 50 - 20 + 10.
func TestRV131WithdrawalChangeAndDepositInOneTransaction(t *testing.T) {
	w := &ledgertest.TokenWorld{}
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w.Mint(alice, "30")
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-2"})
	mint := view(w.Mint(treasury, "50"))
	both := rvShift(view(w.Tx(w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "20"}), w.AcceptOp(cid))), 4)
	r, es := rvIngest(t, rvShift(rvOfferSeen(t, offer), 6), mint, both)
	var kinds []tokenstd.Kind
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []tokenstd.Kind{tokenstd.KindOfferIn, tokenstd.KindMint, tokenstd.KindWithdrawal, tokenstd.KindDeposit}, kinds, "%+v", es)
	require.Equal(t, "acct-2", es[3].Account)
	requireDecimal(t, "10", es[3].Amount)
	requireDecimal(t, "-20", es[2].Amount)
	require.Equal(t, "40", rvBalance(t, r))
}

// The exchange accepts alice's offer and burns 1 of its own (a preapproval
// renewal's fee) in one transaction: a deposit and a fee.
func TestRV131DepositAndBurnInOneTransaction(t *testing.T) {
	w := &ledgertest.TokenWorld{}
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w.Mint(alice, "30")
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-2", Fee: "0.5"})
	mint := view(w.Mint(treasury, "50"))
	both := rvShift(view(w.Tx(w.AcceptOp(cid), w.BurnOp(treasury, "1"))), 9)
	r, es := rvIngest(t, rvShift(rvOfferSeen(t, offer), 2), mint, both)
	var kinds []tokenstd.Kind
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []tokenstd.Kind{tokenstd.KindOfferIn, tokenstd.KindMint, tokenstd.KindDeposit, tokenstd.KindFee}, kinds, "%+v", es)
	requireDecimal(t, "10", es[2].Amount)
	require.True(t, es[2].Fee.IsZero(), "alice's fee charged to the treasury: %s", es[2].Fee)
	requireDecimal(t, "1", es[3].Fee)
	require.Equal(t, "59", rvBalance(t, r))
}

// The exchange accepts alice's offer of 10 and, in the same transaction,
// withdraws 12 to bob spending the holding it just received and an older
// one: a deposit, then a withdrawal spending a holding created in the
// transaction, with the treasury's change.
func TestRV131DepositSpentInTheSameTransaction(t *testing.T) {
	w := &ledgertest.TokenWorld{}
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w.Mint(alice, "30")
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-2"})
	mint := view(w.Mint(treasury, "5"))
	acc := w.AcceptOp(cid)
	got := acc.Created[0].ContractID
	wd := w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "12", Fee: "0.5",
		InputHoldings: []string{got, mint.Events[1].(*ledger.CreatedEvent).ContractID}})
	both := rvShift(view(w.Tx(acc, wd)), 3)
	r, es := rvIngest(t, rvShift(rvOfferSeen(t, offer), 2), mint, both)
	var kinds []tokenstd.Kind
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []tokenstd.Kind{tokenstd.KindOfferIn, tokenstd.KindMint, tokenstd.KindDeposit, tokenstd.KindWithdrawal}, kinds, "%+v", es)
	requireDecimal(t, "10", es[2].Amount)
	requireDecimal(t, "-12.5", es[3].Amount)
	requireDecimal(t, "0.5", es[3].Fee)
	require.Equal(t, "2.5", rvBalance(t, r))
}

// The treasury, its own preapproval's provider, renews it: a consuming
// choice on the preapproval that burns its fee from the treasury's
// amulets (a self-transfer splitting off the fee, whose amulet is
// archived) and creates the renewed preapproval, tx-kind burn with the
// burned amount. One fee entry of what the treasury lost.
func TestRV131PreapprovalRenewalIsAFee(t *testing.T) {
	w := &ledgertest.TokenWorld{}
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	mint := view(w.Mint(treasury, "50"))
	in := mint.Events[1].(*ledger.CreatedEvent).ContractID
	renew := rvExercise(rvPreapproval, "treasury-preapproval", "TransferPreapproval_Renew", []string{treasury}, true,
		map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindBurn, tokenstd.MetaReason: "renew TransferPreapproval", tokenstd.MetaBurned: "3.2"},
		rvArchive(in, treasury),
		rvAmuletCreate("split", treasury, "3"),
		rvAmuletCreate("change", treasury, "46.8"),
		rvArchive("split", treasury),
		rvCouponCreate("vrc", treasury),
		&rvNode{ev: &ledger.CreatedEvent{ContractID: "treasury-preapproval-2", TemplateID: rvPreapproval, PackageName: "splice-amulet",
			CreateArguments: ledger.Record(&rvPreapproval, ledger.F("receiver", ledger.Party(treasury))),
			Signatories:     []string{rvDSO, treasury}}})
	r, es := rvIngest(t, mint, rvTx("renew-1", 0, renew))
	require.Len(t, es, 2, "%+v", es)
	require.Equal(t, tokenstd.KindFee, es[1].Kind, "%+v", es[1])
	requireDecimal(t, "-3.2", es[1].Amount)
	requireDecimal(t, "3.2", es[1].Fee)
	require.Equal(t, "46.8", rvBalance(t, r))
}

// The exchange pays withdrawal wd-1 (5 to bob, 0.5 burned) through bob's
// preapproval: with TransferFactory_Transfer, whose result's metadata
// Amulet reduces to the burned amount (no tx-kind, no sender), and with
// the wallet's direct TransferPreapproval_Send. Either is the withdrawal
// wd-1, completed.
func TestRV131WithdrawalThroughPreapprovalAsProjected(t *testing.T) {
	t.Run("factory", func(t *testing.T) {
		r := newRig(t)
		w := &ledgertest.TokenWorld{}
		mint := w.MintOp(treasury, "100")
		r.append(w.Tx(mint))
		require.NoError(t, r.run(ingest.PoisonHalt))
		r.submitWithdrawal("wd-1", "5", amulet, mint.Created[0].ContractID, w)
		tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "5", Reason: "wd-1", Fee: "0.5",
			InputHoldings: []string{mint.Created[0].ContractID}}), treasury)
		editResult(t, tx, 0, []string{"meta"}, setTo(metadataValue(map[string]string{tokenstd.MetaBurned: "0.5"})))
		r.append(rvShift(tx, 5))
		require.NoError(t, r.run(ingest.PoisonHalt))
		require.Equal(t, withdrawal.StatusCompleted, r.withdrawalStatus("wd-1"))
		require.Equal(t, "94.5", rvBalance(t, r))
	})
	t.Run("direct", func(t *testing.T) {
		r := newRig(t)
		w := &ledgertest.TokenWorld{}
		mint := w.MintOp(treasury, "100")
		r.append(w.Tx(mint))
		require.NoError(t, r.run(ingest.PoisonHalt))
		in := mint.Created[0].ContractID
		r.submitWithdrawal("wd-1", "5", amulet, in, w)
		send := rvSendTo("w1", treasury, bob, map[string]string{in: "100"}, "5", "94.5", "0.5", "wd-1")
		send.ev.(*ledger.ExercisedEvent).ActingParties = []string{treasury}
		r.append(rvTx("wd-tx", 9, send))
		require.NoError(t, r.run(ingest.PoisonHalt))
		es, err := tokenstd.ListEntries(r.b.ctx, r.b.db, testSchema, tokenstd.EntryFilter{})
		require.NoError(t, err)
		require.Equal(t, tokenstd.KindWithdrawal, es[len(es)-1].Kind, "%+v", es[len(es)-1])
		requireDecimal(t, "0.5", es[len(es)-1].Fee)
		require.Equal(t, withdrawal.StatusCompleted, r.withdrawalStatus("wd-1"))
		require.Equal(t, "94.5", rvBalance(t, r))
	})
}

// The DSO expires a dust amulet of the treasury: the root of the
// treasury's transaction is the consuming Amulet_Expire on the holding
// itself (tx-kind expire-dust), with nothing below it. A fee of the
// holding's amount.
func TestRV131DustExpiryAtTheRoot(t *testing.T) {
	w := &ledgertest.TokenWorld{}
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	m1 := w.MintOp(treasury, "0.001")
	m2 := w.MintOp(treasury, "7")
	mints := view(w.Tx(m1, m2))
	expire := rvExercise(rvAmulet, m1.Created[0].ContractID, "Amulet_Expire", []string{rvDSO}, true,
		map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindExpireDust})
	r, es := rvIngest(t, mints, rvTx("expire-1", 11, expire))
	require.Len(t, es, 3, "%+v", es)
	require.Equal(t, tokenstd.KindFee, es[2].Kind, "%+v", es[2])
	requireDecimal(t, "0.001", es[2].Fee)
	require.Equal(t, "7", rvBalance(t, r))
}

// bob, in one command of his wallet, accepts the treasury's 2-step
// withdrawal wd-1 (20, the treasury's change coming back) and deposits 15
// of what he got for acct-9 through the treasury's preapproval. The
// treasury sees two roots: the withdrawal completed with its change, and
// a deposit.
func TestRV131AcceptedWithdrawalAndDepositInOneTransaction(t *testing.T) {
	r := newRig(t)
	w := &ledgertest.TokenWorld{}
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	mint := w.MintOp(treasury, "100")
	r.append(w.Tx(mint))
	require.NoError(t, r.run(ingest.PoisonHalt))
	r.submitWithdrawal("wd-1", "20", amulet, mint.Created[0].ContractID, w)
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "20", Reason: "wd-1", Fee: "1",
		InputHoldings: []string{mint.Created[0].ContractID}})
	r.append(view(offer))
	require.NoError(t, r.run(ingest.PoisonHalt))

	acc := w.AcceptOp(cid)
	got := acc.Created[0].ContractID
	accepted := rvShift(view(w.Tx(acc)), 2)
	dep := rvSendTo("b1", bob, treasury, map[string]string{got: "20"}, "15", "4.5", "0.5", "acct-9")
	both := rvTx("bob-batch", 40, dep)
	both.Events = append(accepted.Events, both.Events...)
	r.append(both)
	require.NoError(t, r.run(ingest.PoisonHalt))
	es, err := tokenstd.ListEntries(r.b.ctx, r.b.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	var kinds []tokenstd.Kind
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []tokenstd.Kind{tokenstd.KindMint, tokenstd.KindOfferOut, tokenstd.KindWithdrawal, tokenstd.KindDeposit}, kinds, "%+v", es)
	require.Equal(t, "wd-1", es[2].WithdrawalID)
	requireDecimal(t, "20", es[2].Transferred)
	require.Equal(t, "acct-9", es[3].Account)
	requireDecimal(t, "15", es[3].Amount)
	require.Equal(t, withdrawal.StatusCompleted, r.withdrawalStatus("wd-1"))
	require.Equal(t, "94", rvBalance(t, r))
}

// An external-party treasury pays wd-1 (5 to bob) through a TransferCommand
// it signed: the DSO's delegate exercises TransferCommand_Send (no
// metadata), which bumps the treasury's command counter and exercises
// TransferPreapproval_Send on bob's preapproval as the treasury, with the
// command's description, wd-1, as the reason. The withdrawal wd-1,
// completed. A command that fails (bob has no preapproval) merges the
// treasury's inputs in a self-transfer (tx-kind merge-split): a
// merge_split, and wd-1 still in flight.
func TestRV131WithdrawalThroughTransferCommand(t *testing.T) {
	counter := func(cid string, consuming bool) *rvNode {
		tmpl := ledger.Identifier{PackageID: rvAmuletPkg, ModuleName: "Splice.ExternalPartyAmuletRules", EntityName: "TransferCommandCounter"}
		if consuming {
			return rvExercise(tmpl, cid, "Archive", []string{rvDSO}, true, nil)
		}
		return &rvNode{ev: &ledger.CreatedEvent{ContractID: cid, TemplateID: tmpl, PackageName: "splice-amulet",
			CreateArguments: ledger.Record(&tmpl, ledger.F("sender", ledger.Party(treasury))), Signatories: []string{rvDSO}}}
	}
	command := ledger.Identifier{PackageID: rvAmuletPkg, ModuleName: "Splice.ExternalPartyAmuletRules", EntityName: "TransferCommand"}
	setup := func(t *testing.T) (*rig, string) {
		r := newRig(t)
		w := &ledgertest.TokenWorld{}
		mint := w.MintOp(treasury, "100")
		r.append(w.Tx(mint))
		require.NoError(t, r.run(ingest.PoisonHalt))
		r.submitWithdrawal("wd-1", "5", amulet, mint.Created[0].ContractID, w)
		return r, mint.Created[0].ContractID
	}
	t.Run("sent", func(t *testing.T) {
		r, in := setup(t)
		send := rvSendTo("w1", treasury, bob, map[string]string{in: "100"}, "5", "94.5", "0.5", "wd-1")
		send.ev.(*ledger.ExercisedEvent).ActingParties = []string{treasury}
		root := rvExercise(command, "cmd-1", "TransferCommand_Send", []string{"delegate::1220dd"}, true, nil,
			counter("counter-0", true), counter("counter-1", false), send)
		r.append(rvTx("cmd-tx", 1, root))
		require.NoError(t, r.run(ingest.PoisonHalt))
		require.Equal(t, withdrawal.StatusCompleted, r.withdrawalStatus("wd-1"))
		require.Equal(t, "94.5", rvBalance(t, r))
	})
	t.Run("merged", func(t *testing.T) {
		r, in := setup(t)
		merge := rvExercise(rvRules, "amulet-rules", "AmuletRules_Transfer", []string{treasury, "delegate::1220dd"}, false,
			map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindMergeSplit, tokenstd.MetaBurned: "0.1"},
			rvArchive(in, treasury), rvAmuletCreate("merged", treasury, "99.9"))
		root := rvExercise(command, "cmd-1", "TransferCommand_Send", []string{"delegate::1220dd"}, true, nil,
			counter("counter-0", true), counter("counter-1", false), merge)
		r.append(rvTx("cmd-tx", 1, root))
		require.NoError(t, r.run(ingest.PoisonHalt))
		es, err := tokenstd.ListEntries(r.b.ctx, r.b.db, testSchema, tokenstd.EntryFilter{})
		require.NoError(t, err)
		require.Equal(t, tokenstd.KindMergeSplit, es[len(es)-1].Kind, "%+v", es[len(es)-1])
		require.Equal(t, withdrawal.StatusSubmitted, r.withdrawalStatus("wd-1"))
		require.Equal(t, "99.9", rvBalance(t, r))
	})
}
