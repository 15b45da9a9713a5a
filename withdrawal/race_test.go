package withdrawal_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// TestCreateRacesReconciliation: exchange goroutines create withdrawals,
// reserving holdings they read from the holding set, while the Ingester
// reconciles the ledger under them: the executor spends the reserved
// holdings (withdrawals completing, change coming back as new holdings),
// lets others lapse and moves the record time so that they expire and their
// holdings become free again. No holding may ever be reserved by two open
// withdrawals — the executor would find it spent — and every withdrawal
// ends completed or expired as the ledger says.
func TestCreateRacesReconciliation(t *testing.T) {
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	amounts := make([]string, 30)
	for i := range amounts {
		amounts[i] = "10"
	}
	l.mintAndCatchUp(amounts...)

	const creators, attempts = 4, 25
	created := make(chan *withdrawal.Withdrawal, creators*attempts)
	var refused, unavailable sync.Map
	var wg sync.WaitGroup
	for g := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range attempts {
				live, err := tokenstd.LiveHoldings(l.ctx, l.db, schema.DefaultName)
				if err != nil {
					t.Error(err)
					return
				}
				var unlocked []tokenstd.Holding
				for _, h := range live {
					if h.Lock == nil && h.Amount.GreaterThanOrEqual(dec("2")) {
						unlocked = append(unlocked, h)
					}
				}
				if len(unlocked) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				picks := []tokenstd.Holding{unlocked[rng.IntN(len(unlocked))]}
				if other := unlocked[rng.IntN(len(unlocked))]; other.ContractID != picks[0].ContractID && rng.IntN(2) == 0 {
					picks = append(picks, other)
				}
				var sum decimal.Decimal
				var cids []string
				for _, h := range picks {
					sum = sum.Add(h.Amount)
					cids = append(cids, h.ContractID)
				}
				now, err := l.store.IngestedTime(l.ctx)
				if err != nil {
					t.Error(err)
					return
				}
				id := fmt.Sprintf("wd-%d-%02d", g, i)
				r := withdrawal.Request{ID: id, UserAccount: "user", Amount: sum.Mul(dec("0.6")).Truncate(2), Instrument: picks[0].Instrument,
					Receiver: external, ReservedHoldings: cids, ReservedFunds: sum, TrecTgt: now.Add(ttl)}
				w, err := l.store.Create(l.ctx, r)
				switch {
				case err == nil:
					created <- w
				case errors.Is(err, withdrawal.ErrHoldingReserved):
					refused.Store(id, err)
				case errors.Is(err, withdrawal.ErrHoldingUnavailable):
					unavailable.Store(id, err) // spent after we read the holding set
				default:
					t.Errorf("create %s: %v", id, err)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(created) }()

	// The executor: the only user of the world and the participant.
	executed := map[string]string{} // withdrawal id → update id
	lapsed := map[string]bool{}
	var violations []string
	n := 0
	for w := range created {
		n++
		if n%4 == 0 {
			lapsed[w.ID] = true // submitted, never commits
		} else if !l.now.Add(time.Millisecond).Before(w.TrecTgt) {
			lapsed[w.ID] = true // its deadline passed before its turn
		} else {
			ok := true
			for _, cid := range w.ReservedHoldings {
				if h, found := l.world.Holding(cid); !found || h.Archived {
					violations = append(violations, fmt.Sprintf("%s reserved holding %s, which is spent", w.ID, cid))
					ok = false
				}
			}
			if ok {
				tx := l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: w.Amount.String(),
					InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.25"}))[0]
				executed[w.ID] = tx.UpdateID
			}
		}
		if n%10 == 0 {
			l.advance(ttl / 3) // lapsed ones expire as the record time passes
		}
	}
	l.advance(2 * ttl)
	l.caughtUp()
	l.stopIngester()

	require.Empty(t, violations, "a holding was reserved twice")
	require.NotEmpty(t, executed)
	require.NotEmpty(t, lapsed)
	all, err := l.store.ListByStatus(l.ctx)
	require.NoError(t, err)
	require.Len(t, all, len(executed)+len(lapsed))
	paid := refunds(t, l.db)
	for _, w := range all {
		if upd, ok := executed[w.ID]; ok {
			require.Equal(t, withdrawal.StatusCompleted, w.Status, w.ID)
			require.Equal(t, upd, w.UpdateID, w.ID)
			require.NotContains(t, paid, w.ID)
		} else {
			require.True(t, lapsed[w.ID], w.ID)
			require.Equal(t, withdrawal.StatusExpired, w.Status, w.ID)
			require.Contains(t, paid, w.ID)
		}
	}
	res, err := l.store.Reservations(l.ctx)
	require.NoError(t, err)
	require.Empty(t, res, "closed withdrawals hold no reservations")
	l.requireBalancesMatch()
	count := func(m *sync.Map) (n int) {
		m.Range(func(any, any) bool { n++; return true })
		return n
	}
	t.Logf("%d withdrawals created (%d executed, %d lapsed), %d refused as reserved, %d as spent", len(all), len(executed), len(lapsed),
		count(&refused), count(&unavailable))
}
