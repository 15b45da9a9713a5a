package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A withdrawal pending acceptance has its funds locked in a live transfer
// instruction on the ledger: only the ledger (accept, reject, withdraw,
// expire, fail) can end it. MarkFailed — the exchange's write for "the
// transfer cannot happen" — must not refund the user then: the receiver
// can still accept, and the withdrawal is paid out and refunded.
func TestMarkFailedRefusesPendingAcceptance(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	offerTx, icid := e.offer(w, "0.5")
	e.apply(offerTx)
	require.Equal(t, withdrawal.StatusPendingAcceptance, e.get("wd-1").Status)

	_, err := e.store.MarkFailed(e.ctx, "wd-1", "receiver has no transfer pre-approval")
	assert.ErrorIs(t, err, withdrawal.ErrIllegalTransition, "MarkFailed of a withdrawal whose instruction is live on the ledger")

	// The receiver accepts the instruction: the funds leave the treasury.
	err = e.run(e.batch(time.Time{}, e.world.Accept(icid)))
	assert.NoError(t, err, "ingestion stops on the acceptance")
	assert.Empty(t, refunds(t, e.db), "the user was refunded, and the receiver paid: a double payout")
	assert.Equal(t, withdrawal.StatusCompleted, e.get("wd-1").Status)
}
