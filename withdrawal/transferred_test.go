package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/assert"
)

// Withdrawal.Transferred is "what the transfer moved as the ledger says".
// A transfer instruction the receiver rejected, or the treasury withdrew,
// moved nothing: the locked funds came back and the user was credited back.
// Its withdrawal must not report the amount as transferred (an exchange
// summing Transferred over its withdrawals would count refunded ones as
// paid out).
func TestRefundedWithdrawalTransferredNothing(t *testing.T) {
	for _, c := range []struct {
		name  string
		close func(e *env, icid string)
		want  withdrawal.Status
	}{
		{"rejected", func(e *env, icid string) { e.apply(e.world.Reject(icid)) }, withdrawal.StatusRejected},
		{"withdrawn", func(e *env, icid string) { e.apply(e.world.Withdraw(icid)) }, withdrawal.StatusWithdrawn},
		{"expired", func(e *env, icid string) { e.apply(e.world.Expire(icid)) }, withdrawal.StatusExpired},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			cids := e.mint("80")
			w := e.create(e.request("wd-1", "60", cids...))
			offerTx, icid := e.offer(w, "0.5")
			e.apply(offerTx)
			c.close(e, icid)
			got := e.get("wd-1")
			assert.Equal(t, c.want, got.Status)
			assert.Equal(t, map[string]string{"wd-1": "61"}, refunds(t, e.db), "credited back")
			assert.True(t, got.Transferred.IsZero(), "a %s withdrawal reports %s transferred", got.Status, got.Transferred)
		})
	}
}
