package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wd-1's transfer created instruction I1 (pending acceptance: its funds
// are locked for the receiver). A second, 1-step transfer carrying wd-1's
// id then pays the receiver from other holdings. That is a second execution
// of wd-1 while I1 can still be accepted: the Reconciler must report it
// when it sees it (the treasury can still withdraw I1), not complete wd-1
// quietly and report only once the receiver has accepted I1 too.
func TestSecondTransferOfAPendingWithdrawalIsAnAnomaly(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("100", "100")
	w := e.create(e.request("wd-1", "50", cids[0]))
	offerTx, icid := e.offer(w, "0")
	e.apply(offerTx)
	require.Equal(t, withdrawal.StatusPendingAcceptance, e.get("wd-1").Status)

	second := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "50",
		InputHoldings: cids[1:], Reason: "wd-1"})
	err := e.run(e.batch(time.Time{}, second))
	var a *withdrawal.Anomaly
	assert.ErrorAs(t, err, &a, "a second execution of wd-1 while its instruction %s is live; wd-1 is now %s", icid, e.get("wd-1").Status)
	if a != nil {
		assert.Equal(t, withdrawal.AnomalyDoubleExecution, a.Kind)
		assert.Contains(t, a.Detail, "pending acceptance of instruction "+icid+", not of a transfer without an instruction")
		return
	}
	// What happens instead: the receiver accepts I1 as well.
	err = e.run(e.batch(time.Time{}, e.world.Accept(icid)))
	t.Logf("the anomaly comes only after the receiver was paid twice: %v", err)
}
