package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A withdrawal's offer of Amulet's shape (the lock's fee of 0.1 burned,
// 30 + a reserve of 2 locked) that the treasury withdraws, or that expires
// and whose lock the registry or the sender releases: the whole 32 comes
// back, so that the withdrawal cost the treasury only the lock's fee. Its
// Fee, the history's entries of it and the treasury's holdings agree on
// that, nothing is Transferred and the user is refunded once.
func TestInstructionReserveReturnedWhenNotAccepted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome func(r *restorable, icid, locked string) []*ledger.Transaction
		status  withdrawal.Status
	}{
		{"withdrawn", func(r *restorable, icid, _ string) []*ledger.Transaction {
			return []*ledger.Transaction{r.world.Withdraw(icid)}
		}, withdrawal.StatusWithdrawn},
		{"expired/registry", func(r *restorable, icid, _ string) []*ledger.Transaction {
			return []*ledger.Transaction{r.world.Expire(icid)}
		}, withdrawal.StatusExpired},
		{"expired/sender", func(r *restorable, icid, locked string) []*ledger.Transaction {
			// Past the deadline the lock has expired, and its owner
			// releases it (Amulet's LockedAmulet_OwnerExpireLock); the
			// instruction, which can no longer be accepted, is then
			// withdrawn by the treasury as the package's doc says, with no
			// funds left to return.
			r.world.Advance(r.world.Expiry + r.world.Step)
			unlock := r.world.Unlock(locked)
			return []*ledger.Transaction{unlock, nothingReturned(t, r.world.Withdraw(icid))}
		}, withdrawal.StatusWithdrawn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRestorable(t, withdrawal.ReconcilerConfig{})
			before, w, op := reserveOffer(t, r)
			icid := op.InstructionCID
			require.Equal(t, withdrawal.StatusPendingAcceptance, r.get(w.ID).Status)

			txs := tc.outcome(r, icid, op.Created[0].ContractID)
			for _, tx := range txs[:len(txs)-1] {
				// The lock released apart from the instruction: the funds
				// are back, but the withdrawal stays pending, its user not
				// credited, its instruction listed for the treasury to
				// withdraw.
				r.apply(tx)
				require.Equal(t, withdrawal.StatusPendingAcceptance, r.get(w.ID).Status)
				require.NotContains(t, refunds(t, r.db), w.ID)
				pending, err := tokenstd.PendingInstructions(r.ctx, r.db, schema.DefaultName)
				require.NoError(t, err)
				require.Len(t, pending, 1)
				require.Equal(t, icid, pending[0].ContractID)
				now, err := tokenstd.Balances(r.ctx, r.db, schema.DefaultName)
				require.NoError(t, err)
				for inst, b := range now {
					requireDec(t, "-0.1", b.Sub(before[inst]), "the treasury's holdings of ", inst)
				}
			}
			r.apply(txs[len(txs)-1])
			got := r.get(w.ID)
			require.Equal(t, tc.status, got.Status)
			var outflow string
			require.NoError(t, r.db.Get(&outflow, `SELECT trim_scale(sum(amount))::text FROM txhistory.token_history WHERE withdrawal_id = $1`, w.ID))
			require.Equal(t, "-0.1", outflow, "the history's outflow of the withdrawal")
			after, err := tokenstd.Balances(r.ctx, r.db, schema.DefaultName)
			require.NoError(t, err)
			for inst, b := range after {
				requireDec(t, "-0.1", b.Sub(before[inst]), "the treasury's holdings of ", inst)
			}
			require.True(t, got.Transferred.IsZero(), "transferred %s", got.Transferred)
			requireDec(t, "0.1", got.Fee, "the lock's fee")
			require.Equal(t, "31", refunds(t, r.db)[w.ID], "refunded once")
		})
	}
}

// nothingReturned makes tx, an instruction's withdrawal or rejection, that
// of an instruction whose lock its owner already released: the choice
// alone, returning no holdings.
func nothingReturned(t *testing.T, tx *ledger.Transaction) *ledger.Transaction {
	t.Helper()
	root := tx.Events[0].(*ledger.ExercisedEvent)
	root.LastDescendantNodeID = root.NodeID
	root.ExerciseResult = withField(t, root.ExerciseResult, "senderChangeCids", ledger.List())
	tx.Events = tx.Events[:1]
	return tx
}
