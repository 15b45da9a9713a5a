package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// reserveChange gives an acceptance the shape of Amulet's: the offer
// locked the amount plus a fee reserve, and the acceptance burns only the
// fee it charges (its result's burned metadata) and returns the rest of
// the reserve to the sender as change (senderChangeCids).
func reserveChange(t *testing.T, accept *ledger.Transaction, sender, change, fee string) {
	t.Helper()
	last := accept.Events[len(accept.Events)-1].(*ledger.CreatedEvent) // the receiver's holding
	node := last.NodeID
	c := *last
	c.ContractID = last.ContractID + "-change"
	c.Signatories = []string{last.Signatories[0], sender}
	c.CreateArguments = withField(t, withField(t, last.CreateArguments, "owner", ledger.Party(sender)), "amount", ledger.Numeric(change))
	view := withField(t, withField(t, last.InterfaceViews[0].Value, "owner", ledger.Party(sender)), "amount", ledger.Numeric(change))
	c.InterfaceViews = []ledger.InterfaceView{{InterfaceID: last.InterfaceViews[0].InterfaceID, Value: view,
		ImplementationPackageID: last.InterfaceViews[0].ImplementationPackageID}}
	c.NodeID = node + 1
	for _, ev := range accept.Events {
		if x, ok := ev.(*ledger.ExercisedEvent); ok && x.LastDescendantNodeID == node {
			x.LastDescendantNodeID = node + 1
		}
	}
	accept.Events = append(accept.Events, &c)
	root := accept.Events[0].(*ledger.ExercisedEvent)
	res := root.ExerciseResult
	meta, _ := res.Field("meta")
	res = withField(t, res, "meta", withField(t, meta, "values", ledger.TextMapOf(map[string]string{
		"splice.lfdecentralizedtrust.org/tx-kind": "transfer", "splice.lfdecentralizedtrust.org/sender": sender,
		"splice.lfdecentralizedtrust.org/burned": fee})))
	root.ExerciseResult = withField(t, res, "senderChangeCids", ledger.List(ledger.ContractID(c.ContractID)))
}

// An Amulet registry charges a two-step transfer's fees at both steps: the
// offer's lock is a transfer to the sender itself (its fee burned, in the
// TransferFactory_Transfer's result), and it locks the amount plus a
// reserve for the second step's fees; the acceptance burns that step's fee
// and returns the rest of the reserve as the sender's change. The
// withdrawal's Transferred + Fee is what it cost the treasury: what the
// history's entries of it sum to, and what left its holdings.
func TestInstructionFeeWithReserveReturned(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome func(r *restorable, icid string) *ledger.Transaction
		status  withdrawal.Status
		fee     string // the lock's 0.1, and the acceptance's 0.4 if accepted
		outflow string
	}{
		{"accepted", func(r *restorable, icid string) *ledger.Transaction {
			tx := r.world.Accept(icid)
			reserveChange(t, tx, treasury, "1.6", "0.4") // the reserve of 2 less the fee of 0.4
			return tx
		}, withdrawal.StatusCompleted, "0.5", "-30.5"},
		{"rejected", func(r *restorable, icid string) *ledger.Transaction { return r.world.Reject(icid) },
			withdrawal.StatusRejected, "0.1", "-0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRestorable(t, withdrawal.ReconcilerConfig{})
			before, w, op := reserveOffer(t, r)
			icid := op.InstructionCID
			got := r.get(w.ID)
			require.Equal(t, withdrawal.StatusPendingAcceptance, got.Status)
			require.True(t, got.Transferred.IsZero())
			requireDec(t, "0.1", got.Fee, "the offer's fee")

			r.apply(tc.outcome(r, icid))
			got = r.get(w.ID)
			require.Equal(t, tc.status, got.Status)
			var outflow string
			require.NoError(t, r.db.Get(&outflow, `SELECT trim_scale(sum(amount))::text FROM txhistory.token_history WHERE withdrawal_id = $1`, w.ID))
			require.Equal(t, tc.outflow, outflow, "the history's outflow of the withdrawal")
			after, err := tokenstd.Balances(r.ctx, r.db, schema.DefaultName)
			require.NoError(t, err)
			for inst, b := range after {
				requireDec(t, tc.outflow, b.Sub(before[inst]), "the treasury's holdings of ", inst)
			}
			requireDec(t, tc.outflow, got.Transferred.Add(got.Fee).Neg(), "Transferred + Fee")
			requireDec(t, tc.fee, got.Fee)
		})
	}
}

// reserveOffer creates wd-2 of 30 and applies its offer in Amulet's shape:
// 32 locked (the amount and a reserve of 2), a fee of 0.1 burnt from the
// change (67.9). It returns the treasury's balances before, the withdrawal
// and the offer's operation.
func reserveOffer(t *testing.T, r *restorable) (map[tokenstd.Instrument]decimal.Decimal, *withdrawal.Withdrawal, ledgertest.TokenOp) {
	t.Helper()
	holding := r.world.Holdings(treasury)[1].ContractID
	before, err := tokenstd.Balances(r.ctx, r.db, schema.DefaultName)
	require.NoError(t, err)
	w := r.create(r.request("wd-2", "30", holding))
	op := r.world.OfferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30",
		InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "2"}) // locks 32 (a reserve of 2), change 68
	offer := r.world.Tx(op)
	lockFee(t, offer, op.Created[1].ContractID, "0.1") // change 67.9
	r.apply(offer)
	return before, w, op
}
