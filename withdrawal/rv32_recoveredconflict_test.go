package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// After an Integration DB restore, a lost withdrawal whose transfer
// instruction the receiver rejected is recovered as rejected: nothing left
// the treasury. The exchange re-sending the lost request gets ErrIDConflict,
// whose text support reads to learn what became of the user's funds: it
// must not say the transfer was executed (paid out) when it was not.
func TestCreateConflictWithARecoveredWithdrawalSaysWhetherItPaidOut(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.mint("100")
	offerTx, icid := e.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30", Reason: "wd-lost"})
	e.apply(offerTx)
	e.apply(e.world.Reject(icid))
	got := e.get("wd-lost")
	require.True(t, got.Recovered)
	require.Equal(t, withdrawal.StatusRejected, got.Status)

	cids := e.mint("100")
	_, err := e.store.Create(e.ctx, e.request("wd-lost", "30", cids...))
	require.ErrorIs(t, err, withdrawal.ErrIDConflict)
	require.ErrorContains(t, err, "recovered from the ledger")
	require.NotContains(t, err.Error(), "was executed", "the rejected transfer paid nothing out")
	require.ErrorContains(t, err, "rejected")

	// One that paid out still says so.
	e.apply(e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "20", Reason: "wd-paid"}))
	cids = e.mint("100")
	_, err = e.store.Create(e.ctx, e.request("wd-paid", "20", cids...))
	require.ErrorIs(t, err, withdrawal.ErrIDConflict)
	require.ErrorContains(t, err, "its transfer was executed")
}
