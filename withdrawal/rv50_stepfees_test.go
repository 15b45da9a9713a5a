package withdrawal_test

import (
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// withField returns record v with its field label set to x (added last if
// v has none of that name), keeping its type.
func withField(t *testing.T, v ledger.Value, label string, x ledger.Value) ledger.Value {
	t.Helper()
	id, _ := v.TypeID()
	fields, err := v.AsRecord()
	require.NoError(t, err)
	out := make([]ledger.Field, 0, len(fields)+1)
	found := false
	for _, f := range fields {
		if f.Label == label {
			f.Value, found = x, true
		}
		out = append(out, f)
	}
	if !found {
		out = append(out, ledger.F(label, x))
	}
	if id == (ledger.Identifier{}) {
		return ledger.Record(nil, out...)
	}
	return ledger.Record(&id, out...)
}

// lockFee makes the offer's registry burn fee when it locks the funds (a
// two-step transfer whose first step is itself a transfer, as Amulet's
// lock): the treasury's change is fee smaller and the result's metadata
// says the fee was burned.
func lockFee(t *testing.T, offer *ledger.Transaction, changeCID, fee string) {
	t.Helper()
	root := offer.Events[0].(*ledger.ExercisedEvent)
	res := root.ExerciseResult
	meta, ok := res.Field("meta")
	require.True(t, ok)
	values, ok := meta.Field("values")
	require.True(t, ok)
	entries, err := values.AsTextMap()
	require.NoError(t, err)
	m := map[string]string{}
	for _, f := range entries {
		m[f.Label], _ = f.Value.AsText()
	}
	m["splice.lfdecentralizedtrust.org/burned"] = fee
	root.ExerciseResult = withField(t, res, "meta", withField(t, meta, "values", ledger.TextMapOf(m)))
	for _, ev := range offer.Events {
		c, ok := ev.(*ledger.CreatedEvent)
		if !ok || c.ContractID != changeCID {
			continue
		}
		view := c.InterfaceViews[0].Value
		amount, ok := view.Field("amount")
		require.True(t, ok)
		d, err := amount.AsDecimal()
		require.NoError(t, err)
		c.InterfaceViews[0].Value = withField(t, view, "amount", ledger.Numeric(d.Sub(dec(fee)).StringFixed(10)))
		return
	}
	t.Fatalf("no change holding %s in the offer", changeCID)
}

// A registry that burns a fee at each step of a two-step transfer — when
// the offer locks the funds, and when the instruction is accepted — costs
// the treasury both: the history has the offer's fee on the offer entry
// and the acceptance's on the withdrawal entry, but the withdrawal records
// only the last step's, so that its Transferred + Fee falls short of what
// it cost the treasury (a rejected one shows no fee at all though its lock
// burned one). The same after an Integration DB restore that lost the
// request, the withdrawal recovered from the ledger.
func TestInstructionFeesOfEveryStep(t *testing.T) {
	for _, tc := range []struct {
		name     string
		outcome  func(w *ledgertest.TokenWorld, icid string) *ledger.Transaction
		status   withdrawal.Status
		fee      string // the withdrawal's: the lock's 0.1 and the acceptance's 0.4
		outflow  string // the history's entries of the withdrawal, summed
		restored bool
	}{
		{"accepted", (*ledgertest.TokenWorld).Accept, withdrawal.StatusCompleted, "0.5", "-30.5", false},
		{"rejected", (*ledgertest.TokenWorld).Reject, withdrawal.StatusRejected, "0.1", "-0.1", false},
		{"accepted, request lost in a restore", (*ledgertest.TokenWorld).Accept, withdrawal.StatusRecovered, "0.5", "-30.5", true},
		{"rejected, request lost in a restore", (*ledgertest.TokenWorld).Reject, withdrawal.StatusRejected, "0.1", "-0.1", true},
		{"accepted, request lost in a restore, one catch-up batch", (*ledgertest.TokenWorld).Accept, withdrawal.StatusRecovered, "0.5", "-30.5", true},
		{"rejected, request lost in a restore, one catch-up batch", (*ledgertest.TokenWorld).Reject, withdrawal.StatusRejected, "0.1", "-0.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRestorable(t, withdrawal.ReconcilerConfig{})
			r.catchUp = strings.HasSuffix(tc.name, "one catch-up batch")
			if tc.restored {
				r.dump()
			}
			holding := r.world.Holdings(treasury)[1].ContractID
			w := r.create(r.request("wd-2", "30", holding))
			op := r.world.OfferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30",
				InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.4"}) // locks 30.4, change 69.6
			offer, icid := r.world.Tx(op), op.InstructionCID
			lockFee(t, offer, op.Created[1].ContractID, "0.1") // change 69.5
			r.apply(offer)
			r.apply(tc.outcome(r.world, icid))
			if tc.restored {
				r.restore()
			}

			got := r.get(w.ID)
			require.Equal(t, tc.status, got.Status)
			var outflow string
			require.NoError(t, r.db.Get(&outflow, `SELECT trim_scale(sum(amount))::text FROM txhistory.token_history WHERE withdrawal_id = $1`, w.ID))
			require.Equal(t, tc.outflow, outflow, "the history's outflow of the withdrawal")
			requireDec(t, tc.outflow, got.Transferred.Add(got.Fee).Neg(),
				"the withdrawal's Transferred + Fee is not what it cost the treasury (the history's entries of it): fee ", got.Fee)
			requireDec(t, tc.fee, got.Fee)
		})
	}
}
