package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A withdrawal pending acceptance of its transfer instruction has moved
// nothing: the funds are locked, still the treasury's, and the receiver
// may reject the offer. Its Transferred, which an exchange sums as paid
// out (and which is zero once a rejection refunds it), must be zero until
// the instruction is accepted, for a restored request and for one
// recovered after an Integration DB restore alike.
func TestPendingWithdrawalTransferredNothing(t *testing.T) {
	for _, lost := range []bool{false, true} {
		name := "restored request"
		if lost {
			name = "request lost in the restore, recovered"
		}
		t.Run(name, func(t *testing.T) {
			r := newRestorable(t, withdrawal.ReconcilerConfig{})
			if lost {
				r.dump()
			}
			holding := r.world.Holdings(treasury)[1].ContractID
			w := r.create(r.request("wd-2", "30", holding))
			if !lost {
				r.dump()
			}
			offer, icid := r.offer(w, "0.5")
			r.apply(offer)
			r.restore()
			got := r.get(w.ID)
			require.Equal(t, withdrawal.StatusPendingAcceptance, got.Status)
			require.Equal(t, lost, got.Recovered)
			require.True(t, got.Transferred.IsZero(), "a withdrawal pending acceptance reports %s transferred, its funds still locked in the treasury's holding", got.Transferred)

			r.apply(r.world.Accept(icid))
			got = r.get(w.ID)
			require.True(t, got.Status.PaidOut())
			requireDec(t, "30", got.Transferred)
			requireDec(t, "0.5", got.Fee)
		})
	}
}
