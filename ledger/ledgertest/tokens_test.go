package ledgertest_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

const (
	tokenTreasury = "treasury::1220ex"
	tokenAlice    = "alice::1220a1"
	tokenBob      = "bob::1220b2"
)

func tokenDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func tokenExercised(t *testing.T, tx *ledger.Transaction, node int) *ledger.ExercisedEvent {
	t.Helper()
	x, ok := tx.Events[node].(*ledger.ExercisedEvent)
	require.True(t, ok, "node %d is %T", node, tx.Events[node])
	return x
}

func tokenCreated(t *testing.T, tx *ledger.Transaction, node int) *ledger.CreatedEvent {
	t.Helper()
	c, ok := tx.Events[node].(*ledger.CreatedEvent)
	require.True(t, ok, "node %d is %T", node, tx.Events[node])
	return c
}

func tokenMetaOf(t *testing.T, v ledger.Value) map[string]string {
	t.Helper()
	m, err := v.Get("meta")
	require.NoError(t, err)
	vals, err := m.Get("values")
	require.NoError(t, err)
	entries, err := vals.AsTextMap()
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range entries {
		s, err := e.Value.AsText()
		require.NoError(t, err)
		out[e.Label] = s
	}
	return out
}

func tokenHoldingAmount(t *testing.T, c *ledger.CreatedEvent) (owner string, amount decimal.Decimal) {
	t.Helper()
	view, ok := c.View(ledger.HoldingInterface)
	require.True(t, ok, "contract %s has no holding view", c.ContractID)
	o, err := view.Value.Get("owner")
	require.NoError(t, err)
	owner, err = o.AsParty()
	require.NoError(t, err)
	a, err := view.Value.Get("amount")
	require.NoError(t, err)
	amount, err = a.AsDecimal()
	require.NoError(t, err)
	return owner, amount
}

// TestTokenWorldTransferShape: a 1-step transfer is TransferFactory_Transfer
// through the interface, with the implementation's exercise below it
// archiving the inputs and creating the receiver's holding and the change.
func TestTokenWorldTransferShape(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := w.Mint(tokenAlice, "60")
	require.Equal(t, "AmuletRules_Mint", tokenExercised(t, mint, 0).Choice)
	in := w.Holdings(tokenAlice)[0]

	tx := w.Transfer(ledgertest.TransferSpec{Sender: tokenAlice, Receiver: tokenTreasury, Amount: "40", Fee: "0.25", Reason: "acct-7"})
	require.Equal(t, "upd-2", tx.UpdateID)
	require.Equal(t, int64(2), tx.Offset)
	require.Len(t, tx.Events, 5)

	root := tokenExercised(t, tx, 0)
	require.Equal(t, "TransferFactory_Transfer", root.Choice)
	require.NotNil(t, root.InterfaceID)
	require.True(t, root.InterfaceID.SameEntity(ledger.TransferFactoryInterface))
	require.False(t, root.Consuming)
	require.Equal(t, int32(4), root.LastDescendantNodeID)
	require.Equal(t, []string{tokenAlice}, root.ActingParties)
	require.Equal(t, map[string]string{"splice.lfdecentralizedtrust.org/reason": "acct-7"}, tokenMetaOf(t, tokenMustGet(t, root.ChoiceArgument, "transfer")))
	require.Equal(t, map[string]string{
		"splice.lfdecentralizedtrust.org/tx-kind": "transfer",
		"splice.lfdecentralizedtrust.org/sender":  tokenAlice,
		"splice.lfdecentralizedtrust.org/burned":  "0.25",
	}, tokenMetaOf(t, root.ExerciseResult))
	output, _, err := tokenMustGet(t, root.ExerciseResult, "output").AsVariant()
	require.NoError(t, err)
	require.Equal(t, "TransferInstructionResult_Completed", output)

	inner := tokenExercised(t, tx, 1)
	require.Equal(t, int32(4), inner.LastDescendantNodeID)
	archive := tokenExercised(t, tx, 2)
	require.True(t, archive.Consuming)
	require.Equal(t, in.ContractID, archive.ContractID)
	require.Contains(t, archive.ImplementedInterfaces, ledgertest.TokenHoldingInterface)

	owner, amount := tokenHoldingAmount(t, tokenCreated(t, tx, 3))
	require.Equal(t, tokenTreasury, owner)
	require.True(t, amount.Equal(tokenDec("40")))
	owner, amount = tokenHoldingAmount(t, tokenCreated(t, tx, 4))
	require.Equal(t, tokenAlice, owner)
	require.True(t, amount.Equal(tokenDec("19.75")), "change = 60 - 40 - 0.25, got %s", amount)

	// The receiver and the sender witness the whole transfer.
	for _, ev := range tx.Events {
		var ws []string
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			ws = e.WitnessParties
		case *ledger.ExercisedEvent:
			ws = e.WitnessParties
		}
		require.Contains(t, ws, tokenTreasury)
		require.Contains(t, ws, tokenAlice)
	}

	require.True(t, w.Balance(tokenAlice, w.Instrument()).Equal(tokenDec("19.75")))
	require.True(t, w.Balance(tokenTreasury, w.Instrument()).Equal(tokenDec("40")))
	h, ok := w.Holding(in.ContractID)
	require.True(t, ok)
	require.True(t, h.Archived)
}

func tokenMustGet(t *testing.T, v ledger.Value, label string) ledger.Value {
	t.Helper()
	f, err := v.Get(label)
	require.NoError(t, err)
	return f
}

// TestTokenWorldSpendsOnlyWhatExists: inputs must exist, be live, be the
// sender's and cover the amount; a script that breaks this panics.
func TestTokenWorldSpendsOnlyWhatExists(t *testing.T) {
	w := &ledgertest.TokenWorld{}
	w.Mint(tokenAlice, "10")
	w.Mint(tokenAlice, "15")
	require.PanicsWithValue(t, "ledgertest: Transfer: alice::1220a1 has 25 of Amulet@DSO::1220d50 unlocked, needs 30", func() {
		w.Transfer(ledgertest.TransferSpec{Sender: tokenAlice, Receiver: tokenBob, Amount: "30"})
	})
	first := w.Holdings(tokenAlice)[0].ContractID
	w.Transfer(ledgertest.TransferSpec{Sender: tokenAlice, Receiver: tokenBob, Amount: "10", InputHoldings: []string{first}})
	require.Panics(t, func() {
		w.Transfer(ledgertest.TransferSpec{Sender: tokenAlice, Receiver: tokenBob, Amount: "1", InputHoldings: []string{first}})
	}, "an archived input")
	require.Panics(t, func() {
		w.Transfer(ledgertest.TransferSpec{Sender: tokenBob, Receiver: tokenAlice, Amount: "1", Fee: "x"})
	}, "a malformed fee")
	// Automatic selection takes the oldest holdings first and stops when covered.
	w.Mint(tokenAlice, "5")
	tx := w.Transfer(ledgertest.TransferSpec{Sender: tokenAlice, Receiver: tokenBob, Amount: "12"})
	var inputs []string
	for _, ev := range tx.Events {
		if x, ok := ev.(*ledger.ExercisedEvent); ok && x.Consuming {
			inputs = append(inputs, x.ContractID)
		}
	}
	require.Len(t, inputs, 1, "the 15 holding covers 12")
	require.True(t, w.Balance(tokenAlice, w.Instrument()).Equal(tokenDec("8")))
}

// TestTokenWorldOfferLifecycle: a multi-step transfer locks the funds and
// creates an instruction; accept, reject, withdraw and expire close it.
func TestTokenWorldOfferLifecycle(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(tokenAlice, "100")
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: tokenAlice, Receiver: tokenTreasury, Amount: "30", Fee: "1", Reason: "acct-1"})
	root := tokenExercised(t, offer, 0)
	cons, _, err := tokenMustGet(t, root.ExerciseResult, "output").AsVariant()
	require.NoError(t, err)
	require.Equal(t, "TransferInstructionResult_Pending", cons)
	instr := tokenCreated(t, offer, len(offer.Events)-1)
	require.Equal(t, cid, instr.ContractID)
	view, ok := instr.View(ledger.TransferInstructionInterface)
	require.True(t, ok)
	status, _, err := tokenMustGet(t, view.Value, "status").AsVariant()
	require.NoError(t, err)
	require.Equal(t, "TransferPendingReceiverAcceptance", status)
	require.Equal(t, []string{tokenTreasury}, instr.Observers)

	o, ok := w.TransferOffer(cid)
	require.True(t, ok)
	require.True(t, o.Open)
	locked, ok := w.Holding(o.Locked)
	require.True(t, ok)
	require.NotNil(t, locked.Lock)
	require.True(t, locked.Amount.Equal(tokenDec("31")), "amount + fee are locked")
	require.True(t, w.Balance(tokenAlice, w.Instrument()).Equal(tokenDec("100")), "locked funds are still alice's")

	accept := w.Accept(cid)
	x := tokenExercised(t, accept, 0)
	require.Equal(t, "TransferInstruction_Accept", x.Choice)
	require.True(t, x.Consuming)
	require.Equal(t, []string{tokenTreasury}, x.ActingParties)
	require.True(t, w.Balance(tokenTreasury, w.Instrument()).Equal(tokenDec("30")))
	require.True(t, w.Balance(tokenAlice, w.Instrument()).Equal(tokenDec("69")))
	require.Panics(t, func() { w.Accept(cid) }, "accepting twice")
	require.Empty(t, w.OpenOffers())

	_, c2 := w.Offer(ledgertest.TransferSpec{Sender: tokenAlice, Receiver: tokenTreasury, Amount: "5"})
	reject := w.Reject(c2)
	require.Equal(t, "TransferInstruction_Reject", tokenExercised(t, reject, 0).Choice)
	_, c3 := w.Offer(ledgertest.TransferSpec{Sender: tokenTreasury, Receiver: tokenBob, Amount: "5"})
	withdraw := w.Withdraw(c3)
	require.Equal(t, []string{tokenTreasury}, tokenExercised(t, withdraw, 0).ActingParties)
	_, c4 := w.Offer(ledgertest.TransferSpec{Sender: tokenTreasury, Receiver: tokenBob, Amount: "5"})
	o4, _ := w.TransferOffer(c4)
	expire := w.Expire(c4)
	require.False(t, expire.RecordTime.Before(o4.ExecuteBefore), "expiry happens past the deadline")
	require.Nil(t, tokenExercised(t, expire, 0).InterfaceID, "expiry is the registry's own choice")
	require.True(t, w.Balance(tokenAlice, w.Instrument()).Equal(tokenDec("69")))
	require.True(t, w.Balance(tokenTreasury, w.Instrument()).Equal(tokenDec("30")))
	require.Len(t, w.Holdings(tokenTreasury), 3, "the split of the first offer and the two returned locks")
}

// TestTokenProjection: a participant hosting the treasury sees only what the
// treasury witnesses, with node ids unchanged.
func TestTokenProjection(t *testing.T) {
	w := &ledgertest.TokenWorld{}
	require.Nil(t, ledgertest.TokenProjection(w.Mint(tokenAlice, "10"), tokenTreasury))
	tx := w.Tx(
		w.TransferOp(ledgertest.TransferSpec{Sender: tokenAlice, Receiver: tokenBob, Amount: "4"}),
		w.MintOp(tokenTreasury, "2"),
	)
	v := ledgertest.TokenProjection(tx, tokenTreasury)
	require.Len(t, v.Events, 2)
	require.Equal(t, tokenExercised(t, tx, 5).NodeID, v.Events[0].Node())
	require.Equal(t, []string{tokenTreasury}, v.Events[0].(*ledger.ExercisedEvent).WitnessParties)
}

// TestTokenWorldNestedAndLocked covers wrapping, locks and burns.
func TestTokenWorldNestedAndLocked(t *testing.T) {
	w := &ledgertest.TokenWorld{}
	w.Mint(tokenTreasury, "50")
	wrapped := w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: tokenTreasury},
		w.TransferOp(ledgertest.TransferSpec{Sender: tokenTreasury, Receiver: tokenBob, Amount: "5", Reason: "wd-1"}),
		w.TransferOp(ledgertest.TransferSpec{Sender: tokenTreasury, Receiver: tokenAlice, Amount: "6", Reason: "wd-2"}),
	))
	top := tokenExercised(t, wrapped, 0)
	require.Equal(t, "WalletAppInstall_ExecuteBatch", top.Choice)
	require.Equal(t, int32(len(wrapped.Events)-1), top.LastDescendantNodeID)
	var transfers []int32
	for _, ev := range wrapped.Events {
		if x, ok := ev.(*ledger.ExercisedEvent); ok && x.Choice == "TransferFactory_Transfer" {
			transfers = append(transfers, x.NodeID)
		}
	}
	require.Equal(t, []int32{1, 6}, transfers)
	require.True(t, w.Balance(tokenTreasury, w.Instrument()).Equal(tokenDec("39")))

	lock := w.LockOp(tokenTreasury, "9", ledgertest.HoldingLock{Holders: []string{"venue::1"}, Context: "collateral"})
	w.Tx(lock)
	require.NotNil(t, lock.Created[0].Lock)
	unlock := w.Unlock(lock.Created[0].ContractID)
	require.Equal(t, map[string]string{"splice.lfdecentralizedtrust.org/tx-kind": "unlock"}, tokenMetaOf(t, tokenExercised(t, unlock, 0).ExerciseResult))
	burn := w.Burn(tokenTreasury, "0.5")
	require.Equal(t, "0.5", tokenMetaOf(t, tokenExercised(t, burn, 0).ExerciseResult)["splice.lfdecentralizedtrust.org/burned"])
	require.True(t, w.Balance(tokenTreasury, w.Instrument()).Equal(tokenDec("38.5")))
	split := w.MergeSplit(tokenTreasury, nil, []string{"30", "8.5"})
	require.Equal(t, "merge-split", tokenMetaOf(t, tokenExercised(t, split, 0).ExerciseResult)["splice.lfdecentralizedtrust.org/tx-kind"])
	require.Len(t, w.Holdings(tokenTreasury), 2)
}

// TestTokenWorldRoundTripsThroughProto: what the builders make survives the
// wire format unchanged.
func TestTokenWorldRoundTripsThroughProto(t *testing.T) {
	d := (&ledgertest.TokenWorld{Sequence: true}).DemoHistory(tokenTreasury, 150)
	for _, tx := range d.Transactions {
		wire := tx.Proto()
		back, err := ledger.TransactionFromProto(wire)
		require.NoError(t, err, "update %s", tx.UpdateID)
		require.True(t, proto.Equal(wire, back.Proto()), "update %s", tx.UpdateID)
	}
}

// TestBuildDemoHistory: the demo history is deterministic, has n
// transactions and adds up: the treasury holds what was deposited minus
// what was withdrawn and burned.
func TestBuildDemoHistory(t *testing.T) {
	a := ledgertest.BuildDemoHistory(tokenTreasury, 300)
	b := ledgertest.BuildDemoHistory(tokenTreasury, 300)
	require.Len(t, a.Transactions, 300)
	for i := range a.Transactions {
		require.True(t, proto.Equal(a.Transactions[i].Proto(), b.Transactions[i].Proto()), "transaction %d differs", i)
	}
	choices := map[string]int{}
	for _, tx := range a.Transactions {
		require.Zero(t, tx.Offset, "left to the participant")
		choices[tokenFirstChoice(tx)]++
	}
	for _, c := range []string{"TransferFactory_Transfer", "TransferInstruction_Accept", "TransferInstruction_Reject",
		"AmuletRules_Mint", "WalletAppInstall_ExecuteBatch", "create"} {
		require.NotZero(t, choices[c], "no %s in %v", c, choices)
	}
	for _, inst := range a.Instruments {
		want := decimal.Zero
		for k, v := range a.Deposits {
			if k.Instrument == inst {
				want = want.Add(v)
			}
		}
		want = want.Sub(a.Withdrawn[inst]).Sub(a.Fees[inst])
		require.True(t, want.Equal(a.World.Balance(tokenTreasury, inst)), "%s: books say %s, holdings %s", inst, want, a.World.Balance(tokenTreasury, inst))
	}
}

func tokenFirstChoice(tx *ledger.Transaction) string {
	if x, ok := tx.Events[0].(*ledger.ExercisedEvent); ok {
		return x.Choice
	}
	return "create"
}

// TestTokenWorldOnParticipant: the demo history appended to the fake
// participant streams to the treasury exactly as TokenProjection says,
// interface views included.
func TestTokenWorldOnParticipant(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	d := ledgertest.BuildDemoHistory(tokenTreasury, 120)
	stored, err := p.Append(d.Transactions...)
	require.NoError(t, err)

	conn, err := grpc.NewClient(p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	filters := []*lapiv2.CumulativeFilter{{IdentifierFilter: &lapiv2.CumulativeFilter_WildcardFilter{WildcardFilter: &lapiv2.WildcardFilter{}}}}
	for _, iface := range ledger.TokenStandardInterfaces() {
		filters = append(filters, &lapiv2.CumulativeFilter{IdentifierFilter: &lapiv2.CumulativeFilter_InterfaceFilter{
			InterfaceFilter: &lapiv2.InterfaceFilter{InterfaceId: iface.Proto(), IncludeInterfaceView: true}}})
	}
	end := p.LedgerEnd()
	stream, err := lapiv2.NewUpdateServiceClient(conn).GetUpdates(ctx, &lapiv2.GetUpdatesRequest{
		EndInclusive: &end,
		UpdateFormat: &lapiv2.UpdateFormat{IncludeTransactions: &lapiv2.TransactionFormat{
			EventFormat:      &lapiv2.EventFormat{FiltersByParty: map[string]*lapiv2.Filters{tokenTreasury: {Cumulative: filters}}, Verbose: true},
			TransactionShape: lapiv2.TransactionShape_TRANSACTION_SHAPE_LEDGER_EFFECTS,
		}},
	})
	require.NoError(t, err)
	var got []*ledger.Transaction
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if tx := resp.GetTransaction(); tx != nil {
			lt, err := ledger.TransactionFromProto(tx)
			require.NoError(t, err)
			got = append(got, lt)
		}
	}
	// TokenProjection keeps the acs_delta of consuming exercises, which a
	// participant clears for parties that are no stakeholders of the
	// contract, known from the transaction that created it.
	stakeholders := map[string][]string{}
	for _, tx := range stored {
		for _, ev := range tx.Events {
			if c, ok := ev.(*ledger.CreatedEvent); ok {
				stakeholders[c.ContractID] = slices.Concat(c.Signatories, c.Observers)
			}
		}
	}
	var want []*ledger.Transaction
	for _, tx := range stored {
		if v := ledgertest.TokenProjection(tx, tokenTreasury); v != nil {
			for _, ev := range v.Events {
				if x, ok := ev.(*ledger.ExercisedEvent); ok && x.ACSDelta {
					x.ACSDelta = slices.Contains(stakeholders[x.ContractID], tokenTreasury)
				}
			}
			want = append(want, v)
		}
	}
	require.Len(t, got, len(want))
	require.Less(t, len(want), len(stored), "some transactions do not concern the treasury")
	for i := range want {
		require.True(t, proto.Equal(want[i].Proto(), got[i].Proto()), "update %s:\nwant %v\ngot  %v", want[i].UpdateID, want[i].Proto(), got[i].Proto())
	}
	require.True(t, slices.IsSortedFunc(got, func(a, b *ledger.Transaction) int { return int(a.Offset - b.Offset) }))
}
