package withdrawal_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/internal/cutproxy"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The whole integration behind a proxy that ends the Ingester's connection
// every 250ms: catching up on a backlog of mints, then tailing while mints
// and withdrawals keep coming and the Automation submits them (its
// Submitter appends the transfers). Every transaction is ingested once, the
// checkpoint never goes back, each withdrawal is submitted once and
// completes, and the balances match the ledger's.
func TestRV148ChurnWhileCatchingUpAndTailing(t *testing.T) {
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	addr, cuts := cutproxy.Every(t, l.p.Addr(), 250*time.Millisecond)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: addr, Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	l.client = client

	var mu sync.Mutex // l.world and l.append, shared with the Submitter
	submissions := map[string]int{}
	auto, err := withdrawal.NewAutomation(l.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			mu.Lock()
			defer mu.Unlock()
			submissions[w.ID]++
			l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver,
				Amount: w.Amount.String(), InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.1"}))
			return nil
		})})
	require.NoError(t, err)

	var holdings []string
	for i := 0; i < 600; i++ {
		holdings = append(holdings, l.mint("100")...)
	}
	l.startIngester()
	l.caughtUp() // the backlog, through the cuts

	// The checkpoint, sampled throughout, never goes back.
	sampled := make(chan error, 1)
	stopSampling := make(chan struct{})
	go func() {
		var last int64
		for {
			select {
			case <-stopSampling:
				sampled <- nil
				return
			case <-time.After(3 * time.Millisecond):
			}
			cp, _, err := l.cps.Get(l.ctx, l.db)
			if err != nil {
				sampled <- err
				return
			}
			if cp.Offset < last {
				sampled <- fmt.Errorf("checkpoint went back from %d to %d", last, cp.Offset)
				return
			}
			last = cp.Offset
		}
	}()

	deadline := time.Now().Add(3 * time.Second)
	var ids []string
	for i := 0; time.Now().Before(deadline); i++ {
		mu.Lock()
		l.mint("1")
		mu.Unlock()
		if i%5 == 0 && len(ids) < len(holdings) {
			id := fmt.Sprintf("wd-%d", len(ids))
			mu.Lock()
			r := l.request(id, "50", holdings[len(ids)])
			mu.Unlock()
			_, err := l.store.Create(l.ctx, r)
			require.NoError(t, err)
			ids = append(ids, id)
			_, err = auto.RunOnce(l.ctx)
			require.NoError(t, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.caughtUp()
	close(stopSampling)
	require.NoError(t, <-sampled)
	require.GreaterOrEqual(t, cuts(), 8)

	for _, id := range ids {
		require.Equal(t, 1, submissions[id], id)
		require.Equal(t, withdrawal.StatusCompleted, l.get(id).Status, id)
	}
	txs := len(l.p.Transactions())
	var ingested, distinct int
	require.NoError(t, l.db.Get(&ingested, `SELECT count(*) FROM txhistory.ingested_update`))
	require.NoError(t, l.db.Get(&distinct, `SELECT count(DISTINCT update_id) FROM txhistory.token_history`))
	require.Equal(t, txs, ingested, "ingested updates")
	require.Equal(t, txs, distinct, "transactions in the history")
	var dup int
	require.NoError(t, l.db.Get(&dup, `SELECT count(*) FROM (SELECT 1 FROM txhistory.token_history
		GROUP BY update_id, node_id, kind, instrument_admin, instrument_id HAVING count(*) > 1) d`))
	require.Zero(t, dup, "history rows written twice")
	l.requireBalancesMatch()
	l.stopIngester() // before the client's Cleanup closes it
	t.Logf("%d transactions, %d withdrawals, %d cuts", txs, len(ids), cuts())
}
