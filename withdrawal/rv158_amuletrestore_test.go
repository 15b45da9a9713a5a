package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The Integration DB is restored, between a withdrawal's offer of Amulet's
// shape (lock fee 0.1 burned, 30 + a reserve of 2 locked) and its
// acceptance (0.4 burned, 1.6 returned), to a backup taken before the
// request was written (lost) or while it was submitted. The replay of the
// offer recovers it pending with the lock's Fee; the acceptance after the
// restore completes it once, with Transferred + Fee what it cost the
// treasury; nothing refunded.
func TestInstructionReserveAcrossDBRestore(t *testing.T) {
	for _, when := range []string{"lost", "submitted", "lost/catch-up"} {
		t.Run(when, func(t *testing.T) {
			r := newRestorable(t, withdrawal.ReconcilerConfig{})
			r.catchUp = when == "lost/catch-up"
			holding := r.world.Holdings(treasury)[1].ContractID
			before, err := tokenstd.Balances(r.ctx, r.db, schema.DefaultName)
			require.NoError(t, err)
			if when != "submitted" {
				r.dump()
			}
			w := r.create(r.request("wd-2", "30", holding))
			_, err = r.store.MarkSubmitted(r.ctx, w.ID)
			require.NoError(t, err)
			if when == "submitted" {
				r.dump()
			}
			op := r.world.OfferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30",
				InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "2"})
			offer, icid := r.world.Tx(op), op.InstructionCID
			lockFee(t, offer, op.Created[1].ContractID, "0.1")
			r.apply(offer)

			r.restore()
			got := r.get(w.ID)
			require.Equal(t, withdrawal.StatusPendingAcceptance, got.Status)
			require.True(t, got.Transferred.IsZero(), "transferred %s", got.Transferred)
			requireDec(t, "0.1", got.Fee, "the offer's fee after the restore")

			accept := r.world.Accept(icid)
			reserveChange(t, accept, treasury, "1.6", "0.4")
			r.apply(accept)
			got = r.get(w.ID)
			if when == "submitted" {
				require.Equal(t, withdrawal.StatusCompleted, got.Status)
			} else {
				// Paid out, as a recovered request ends (StatusRecovered).
				require.True(t, got.Recovered)
				require.Equal(t, withdrawal.StatusRecovered, got.Status)
			}
			requireDec(t, "30", got.Transferred)
			requireDec(t, "0.5", got.Fee)
			var outflow string
			require.NoError(t, r.db.Get(&outflow, `SELECT trim_scale(sum(amount))::text FROM txhistory.token_history WHERE withdrawal_id = $1`, w.ID))
			require.Equal(t, "-30.5", outflow, "the history's outflow of the withdrawal")
			after, err := tokenstd.Balances(r.ctx, r.db, schema.DefaultName)
			require.NoError(t, err)
			for inst, b := range after {
				requireDec(t, "-30.5", b.Sub(before[inst]), "the treasury's holdings of ", inst)
			}
			require.NotContains(t, refunds(t, r.db), w.ID)
			kinds := r.kinds(w.ID)
			require.Equal(t, map[string]int{string(tokenstd.KindOfferOut): 1, string(tokenstd.KindWithdrawal): 1}, kinds)
		})
	}
}
