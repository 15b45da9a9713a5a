package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// An outcome counts as already applied only if it is the very one that
// moved the withdrawal (same update id and node) or comes before it on the
// same synchronizer's clock. A second transfer of a paid withdrawal is a
// double execution, not a replay, when it is another node of the same
// transaction, or a transaction on another synchronizer whose clock is
// behind the first's.
func TestSecondPayoutIsNotTakenForAReplay(t *testing.T) {
	t.Run("another node of the same transaction", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("100")
		w := e.create(e.request("wd-1", "50", cids[0]))
		first := withdrawal.Outcome{ID: w.ID, Status: withdrawal.StatusCompleted, UpdateID: "upd-both", Offset: 90,
			RecordTime: e.world.Now(), SynchronizerID: ledgertest.DefaultSynchronizer, NodeID: 0,
			Instrument: w.Instrument, Receiver: w.Receiver, Transferred: w.Amount}
		_, err := e.store.ApplyOutcome(e.ctx, first)
		require.NoError(t, err)
		_, err = e.store.ApplyOutcome(e.ctx, first)
		require.NoError(t, err, "the same outcome again is a replay")

		second := first
		second.NodeID = 7
		_, err = e.store.ApplyOutcome(e.ctx, second)
		var te *withdrawal.TransitionError
		require.ErrorAs(t, err, &te, "a second transfer in the same transaction was taken for a replay")
		require.Equal(t, withdrawal.StatusCompleted, te.From)
	})

	t.Run("another synchronizer with an earlier clock", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("100", "100")
		w := e.create(e.request("wd-1", "50", cids[0]))
		first := e.transfer(w, "0")
		e.apply(first)
		second := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "50",
			InputHoldings: cids[1:], Reason: "wd-1"})
		second.SynchronizerID = "other-domain::1220bb"
		second.RecordTime = first.RecordTime.Add(-time.Second) // that synchronizer's clock is behind
		err := e.run(e.batch(time.Time{}, second))
		var a *withdrawal.Anomaly
		require.ErrorAs(t, err, &a, "a second payout on another synchronizer was taken for a replay")
		require.Equal(t, withdrawal.AnomalyDoubleExecution, a.Kind)
		require.Equal(t, second.UpdateID, a.Outcome.UpdateID)
	})

	t.Run("an older transaction on the same synchronizer is a replay", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("100")
		w := e.create(e.request("wd-1", "50", cids[0]))
		o, instr := e.offer(w, "0")
		accept := e.world.Accept(instr)
		e.apply(o)
		e.apply(accept)
		before := e.get(w.ID)
		require.Equal(t, withdrawal.StatusCompleted, before.Status)
		require.Equal(t, accept.UpdateID, before.UpdateID)
		require.Equal(t, accept.SynchronizerID, before.LedgerSynchronizerID)
		require.NoError(t, e.replay(e.batches[len(e.batches)-2]), "the offer again, after its acceptance")
		require.Equal(t, before, e.get(w.ID))
	})
}
