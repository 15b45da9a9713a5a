package withdrawal_test

import (
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A rollback (to an older release's version) and a new upgrade in the
// middle of a transfer a registry evolves in steps: the rows the newer
// release wrote (the withdrawal pending on B, B's original) go through the
// down migrations and the up migrations' backfills, and the current build
// carries on: pending on C, then completed, never refunded.
func TestRV87RollbackAndUpgradeMidChain(t *testing.T) {
	for _, v := range []int{6, 8} {
		t.Run(fmt.Sprintf("to%03d", v), func(t *testing.T) {
			db := pgtest.NewDB(t)
			l := newLive(t, db, withdrawal.ReconcilerConfig{})
			l.startIngester()
			cids := l.mint("80")
			l.caughtUp()
			w, err := l.store.Create(l.ctx, l.request("wd-chain", "60", cids...))
			require.NoError(t, err)
			offer, a := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "60",
				InputHoldings: cids, Reason: w.ID, Fee: "0.5"})
			kit := newInstrKit(t, l.world, offer, a)
			l.append(offer)
			l.caughtUp()
			l.append(kit.registryAdvance(a, "00instrB", a))
			l.caughtUp()
			require.Equal(t, "00instrB", l.get(w.ID).InstructionCID)

			l.stopIngester()
			require.NoError(t, schema.Migrate(l.ctx, db, schema.WithTargetVersion(v)))
			require.NoError(t, schema.Migrate(l.ctx, db))
			l.startIngester()

			l.append(kit.registryAdvance("00instrB", "00instrC", a))
			l.caughtUp()
			got := l.get(w.ID)
			require.Equal(t, withdrawal.StatusPendingAcceptance, got.Status)
			require.Equal(t, "00instrC", got.InstructionCID)
			l.append(kit.acceptOf("00instrC"))
			l.caughtUp()
			require.Equal(t, withdrawal.StatusCompleted, l.get(w.ID).Status)
			require.Empty(t, refunds(t, db))
			l.requireBalancesMatch()
		})
	}
}
