package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The ingested record time stands still at T for thousands of
// transactions (an ACS import, a party migration or a repair), spread
// over many batches: a withdrawal whose trecTgt is T does not expire, and
// the gate does not open for tSafe T, while the clock is at T (more
// transactions at T, a lost withdrawal's transfer among them, may still
// come); one whose trecTgt is just before T expires with the first batch
// at T. Both change once the clock passes T.
func TestRV69ClockStandingStillAtTrecTgt(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	atT := e.request("wd-at", "5", cids[0])
	T := atT.TrecTgt
	e.create(atT)
	before := e.request("wd-before", "5", cids[1])
	before.TrecTgt = T.Add(-time.Microsecond)
	e.create(before)
	require.NoError(t, e.store.Disable(e.ctx, "restore: step 2"))

	const groupSize, batchSize = 3000, 100
	for i := 0; i < groupSize; i += batchSize {
		var txs []*ledger.Transaction
		for j := 0; j < batchSize; j++ {
			tx := e.world.Tx(e.world.MintOp(treasury, "1"))
			tx.RecordTime = T
			txs = append(txs, tx)
		}
		e.apply(txs...)
		require.Equal(t, withdrawal.StatusExpired, e.get("wd-before").Status, "trecTgt before T: expired once the clock is at T")
		require.Equal(t, withdrawal.StatusRequested, e.get("wd-at").Status, "expired at its own trecTgt after %d transactions at T", i+batchSize)
		opened, ingested, err := e.store.EnableAfter(e.ctx, T, "restore: step 4")
		require.NoError(t, err)
		require.True(t, ingested.Equal(T), "ingested record time %s", ingested)
		require.False(t, opened, "the gate opened with the clock at tSafe after %d transactions at T", i+batchSize)
	}

	e.tick(T.Add(time.Microsecond))
	require.Equal(t, withdrawal.StatusExpired, e.get("wd-at").Status)
	opened, _, err := e.store.EnableAfter(e.ctx, T, "restore: step 4")
	require.NoError(t, err)
	require.True(t, opened)
	require.Equal(t, map[string]string{"wd-at": "6", "wd-before": "6"}, refunds(t, e.db))
}
