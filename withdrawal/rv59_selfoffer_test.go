package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// wd-1 pays the treasury itself (a user withdrawing to the exchange's own
// deposit party) and the registry makes it a transfer instruction (no
// pre-approval), which the treasury then withdraws. Treasury transfers to
// themselves are not withdrawals (package doc), yet the offer was taken
// for wd-1's (pending acceptance) while its end was not: wd-1 stayed
// pending acceptance for good, its funds reserved and its user never
// credited back, even once the ingested record time passed its trecTgt.
// Either reading of the self-transfer must end wd-1 with one refund.
func TestSelfTransferOfferEndsItsWithdrawal(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("100")
	r := e.request("wd-1", "10", cids[0])
	r.Receiver = treasury
	w := e.create(r)
	offerTx, icid := e.offer(w, "0")
	e.apply(offerTx)
	e.apply(e.world.Withdraw(icid))
	e.tick(w.TrecTgt.Add(time.Second))

	got := e.get("wd-1")
	require.Contains(t, []withdrawal.Status{withdrawal.StatusWithdrawn, withdrawal.StatusExpired}, got.Status,
		"wd-1's self-transfer offer was withdrawn and its trecTgt passed, but wd-1 is %s", got.Status)
	require.Equal(t, map[string]string{"wd-1": "11"}, refunds(t, e.db))
	require.Empty(t, e.reservations())
}
