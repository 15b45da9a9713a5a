package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// rv112Model is what the test knows of one withdrawal's ledger life.
type rv112Model struct {
	req      withdrawal.Request
	appended int    // transfers and offers on the ledger carrying its id
	paid     bool   // a 1-step transfer, or its offer accepted
	offer    string // its open transfer instruction
	ended    bool   // its offer rejected, withdrawn or expired
	seen     []withdrawal.Status
	late     bool // accepted by the participant, not committed yet
}

// TestRV112LifeCycleModel drives the whole integration (a fake participant,
// the real Ingester with History and Reconciler, the Automation with a
// Submitter that fails, times out after appending, is accepted and commits
// later or never, or commits; the ledger refusing a commit at or after
// trecTgt and a second spend of the holdings) through random steps —
// creates of one or two instruments for exactly, less than and more than
// the reserved holdings, rounds (some racing ingestion), offers accepted,
// rejected, withdrawn or expired, record time moved to a trecTgt, a
// microsecond before or after, support's MarkFailed (some racing two
// rounds), the gate, merges of
// reserved holdings, ingester restarts — and checks after each one
// that every withdrawal moved only along Transitions(), was paid at most
// once, refunded at most once and only if not paid, that the reservations
// are the open withdrawals' and the balances the ledger's.
func TestRV112LifeCycleModel(t *testing.T) {
	for _, seed := range []int64{1, 2, 3, 4, 5, 6} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { rv112Run(t, seed, 100) })
	}
}

func rv112Run(t *testing.T, seed int64, steps int) {
	rng := rand.New(rand.NewSource(seed))
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	insts := []ledgertest.TokenInstrument{l.world.Instrument(), l.world.Instrument("USDX")}
	var ops []ledgertest.TokenOp
	for i := 0; i < 12; i++ {
		ops = append(ops, l.world.MintOp(treasury, fmt.Sprintf("%d.5", 1+rng.Intn(20)), insts[i%2]))
	}
	l.append(l.world.Tx(ops...))
	l.startIngester()
	l.caughtUp()

	models := map[string]*rv112Model{}
	gateOpen := true
	var ids []string
	const bob = "bob::1220wd" // no pre-approval: offers
	submit := func(mode int) withdrawal.SubmitFunc {
		return func(_ context.Context, w *withdrawal.Withdrawal) error {
			m := models[w.ID]
			// The ledger refuses a transfer that would commit at or after
			// trecTgt (its executeBefore), and one spending holdings no
			// longer the treasury's unlocked ones (command deduplication).
			if !l.now.Add(time.Millisecond).Before(w.TrecTgt) {
				return errors.New("deadline passed")
			}
			var sum decimal.Decimal
			for _, cid := range w.ReservedHoldings {
				h, ok := l.world.Holding(cid)
				if !ok || h.Archived || h.Lock != nil || h.Owner != treasury {
					return errors.New("contract not active")
				}
				sum = sum.Add(h.Amount)
			}
			if mode == 0 {
				return errors.New("participant unavailable")
			}
			if mode == 1 && m.appended == 0 && w.Receiver == bob && rng.Intn(2) == 0 {
				return withdrawal.ErrNoPreapproval
			}
			if mode == 2 {
				// Accepted; it commits later (a late-commit step), or never.
				m.late = true
				return nil
			}
			m.late = false
			fee := "0"
			if sum.GreaterThanOrEqual(w.Amount.Add(dec("0.5"))) {
				fee = "0.5"
			}
			spec := ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
				Instrument:    ledgertest.TokenInstrument{Admin: w.Instrument.Admin, ID: w.Instrument.ID},
				InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: fee}
			if w.Receiver == bob {
				tx, cid := l.world.Offer(spec)
				l.append(tx)
				m.offer = cid
			} else {
				l.append(l.world.Transfer(spec))
				m.paid = true
			}
			m.appended++
			if mode == 3 {
				return context.DeadlineExceeded // timed out after the participant took it
			}
			return nil
		}
	}
	mode := 0
	var subMu sync.Mutex // Submit calls of racing rounds, one at a time
	// The Submitter of both Automations: one call at a time (racing rounds
	// share the model), never with the gate closed.
	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		subMu.Lock()
		defer subMu.Unlock()
		if !gateOpen {
			t.Errorf("%s handed to the Submitter with the gate closed", w.ID)
		}
		return submit(mode)(ctx, w)
	})
	acfg := withdrawal.AutomationConfig{Logger: quietLog, PollInterval: 20 * time.Millisecond, SubmitTimeout: time.Second, Submitter: submitter}
	auto, err := withdrawal.NewAutomation(l.store, acfg)
	require.NoError(t, err)
	auto2, err := withdrawal.NewAutomation(l.store, acfg)
	require.NoError(t, err)

	reach := rv112Reach()
	check := func(step int, what string) {
		t.Helper()
		l.caughtUp()
		l.requireBalancesMatch()
		refunded := refunds(t, l.db)
		wantRes := map[string]string{}
		for _, id := range ids {
			m := models[id]
			w := l.get(id)
			prev := m.seen[len(m.seen)-1]
			if w.Status != prev && !reach[prev][w.Status] {
				t.Fatalf("seed step %d (%s): withdrawal %s moved %s → %s, not allowed (seen %v)", step, what, id, prev, w.Status, m.seen)
			}
			if w.Status != prev {
				m.seen = append(m.seen, w.Status)
			}
			require.LessOrEqual(t, m.appended, 1, "step %d (%s): %s executed %d times on the ledger", step, what, id, m.appended)
			_, wasRefunded := refunded[id]
			refundStatus := w.Status == withdrawal.StatusFailed || w.Status == withdrawal.StatusExpired ||
				w.Status == withdrawal.StatusRejected || w.Status == withdrawal.StatusWithdrawn
			require.Equal(t, refundStatus, wasRefunded, "step %d (%s): %s is %s, refunded %v", step, what, id, w.Status, wasRefunded)
			if m.paid {
				require.False(t, wasRefunded, "step %d (%s): %s paid on the ledger and refunded", step, what, id)
				require.Equal(t, withdrawal.StatusCompleted, w.Status, "step %d (%s): %s paid on the ledger", step, what, id)
			}
			if m.offer != "" && !m.paid && !m.ended {
				require.Equal(t, withdrawal.StatusPendingAcceptance, w.Status, "step %d (%s): %s has an open offer", step, what, id)
			}
			if m.appended == 0 {
				require.NotEqual(t, withdrawal.StatusCompleted, w.Status, "step %d (%s): %s completed without a transfer", step, what, id)
			}
			if w.Status == withdrawal.StatusRequested || w.Status == withdrawal.StatusSubmitted {
				for _, cid := range w.ReservedHoldings {
					wantRes[cid] = id
				}
			}
		}
		res, err := l.store.Reservations(l.ctx)
		require.NoError(t, err)
		require.Equal(t, wantRes, res, "step %d (%s): reservations", step, what)
	}

	n, disabled := 0, 0
	for step := 0; step < steps; step++ {
		switch k := rng.Intn(10); {
		case k <= 2: // Create
			inst := insts[rng.Intn(2)]
			res, err := l.store.Reservations(l.ctx)
			require.NoError(t, err)
			var free []ledgertest.TokenHolding
			for _, h := range l.world.Holdings(treasury, inst) {
				if h.Lock == nil && res[h.ContractID] == "" {
					free = append(free, h)
				}
			}
			if len(free) == 0 || rng.Intn(8) == 0 {
				ops := []ledgertest.TokenOp{l.world.MintOp(treasury, fmt.Sprintf("%d", 1+rng.Intn(9)), inst)}
				l.append(l.world.Tx(ops...))
				check(step, "mint")
				continue
			}
			taken := false // a holding reserved by an open withdrawal
			if all := l.world.Holdings(treasury, inst); rng.Intn(6) == 0 && len(all) > 0 {
				h := all[rng.Intn(len(all))]
				if res[h.ContractID] != "" {
					free, taken = append([]ledgertest.TokenHolding{h}, free...), true
				}
			}
			pick := free[:1+rng.Intn(min(2, len(free)))]
			var cids []string
			var sum decimal.Decimal
			for _, h := range pick {
				cids, sum = append(cids, h.ContractID), sum.Add(h.Amount)
			}
			amount := sum
			switch rng.Intn(3) {
			case 0:
				amount = sum.Add(dec("0.0000000001")) // over
			case 1:
				amount = sum.Sub(dec("0.75"))
			}
			n++
			id := fmt.Sprintf("wd-%d-%d", seed, n)
			recv := external
			if rng.Intn(2) == 0 {
				recv = bob
			}
			r := withdrawal.Request{ID: id, UserAccount: "u", Amount: amount, Instrument: instrument(inst), Receiver: recv,
				ReservedHoldings: cids, ReservedFunds: amount.Add(dec("1")),
				TrecTgt: l.now.Add(time.Duration(1+rng.Intn(30)) * time.Millisecond)}
			_, err = l.store.Create(l.ctx, r)
			switch {
			case !amount.IsPositive() || amount.GreaterThan(sum):
				require.Error(t, err, "step %d: create %s of %s from %s", step, id, amount, sum)
				continue
			case taken && gateOpen:
				require.ErrorIs(t, err, withdrawal.ErrHoldingReserved, "step %d: create %s", step, id)
				continue
			case errors.Is(err, withdrawal.ErrWithdrawalsDisabled) && !gateOpen:
				disabled++
				continue
			}
			require.NoError(t, err, "step %d: create %s", step, id)
			models[id] = &rv112Model{req: r, seen: []withdrawal.Status{withdrawal.StatusRequested}}
			ids = append(ids, id)
			check(step, "create "+id)
		case k <= 4: // Automation round
			mode = rng.Intn(5) // 4: commits and returns nil
			if rng.Intn(2) == 0 {
				_, err := auto.RunOnce(l.ctx)
				require.NoError(t, err, "step %d: round", step)
				check(step, fmt.Sprintf("round mode %d", mode))
				continue
			}
			// Two rounds (a rolling deploy) and support cancelling the
			// withdrawals it sees requested with nothing on the ledger,
			// all at once.
			var cancel []string
			for _, id := range ids {
				if m := models[id]; m.appended == 0 && !m.late && m.seen[len(m.seen)-1] == withdrawal.StatusRequested {
					cancel = append(cancel, id)
				}
			}
			errc := make(chan error, 2)
			go func() { _, err := auto.RunOnce(l.ctx); errc <- err }()
			go func() {
				for _, id := range cancel {
					_, err := l.store.MarkFailed(l.ctx, id, "cancelled by support")
					var te *withdrawal.TransitionError
					if err != nil && !errors.As(err, &te) && !errors.Is(err, withdrawal.ErrSubmitAttempted) {
						errc <- fmt.Errorf("mark failed %s: %w", id, err)
						return
					}
				}
				errc <- nil
			}()
			_, err := auto2.RunOnce(l.ctx)
			require.NoError(t, err, "step %d: round", step)
			require.NoError(t, <-errc, "step %d", step)
			require.NoError(t, <-errc, "step %d", step)
			check(step, fmt.Sprintf("racing rounds mode %d", mode))
		case k == 5: // the receiver or the treasury ends an offer
			offers := l.world.OpenOffers()
			if len(offers) == 0 {
				continue
			}
			o := offers[rng.Intn(len(offers))]
			var m *rv112Model
			for _, mm := range models {
				if mm.offer == o.ContractID {
					m = mm
				}
			}
			switch rng.Intn(4) {
			case 0:
				l.append(l.world.Accept(o.ContractID))
				m.paid = true
			case 1:
				l.append(l.world.Reject(o.ContractID))
				m.ended = true
			case 2:
				l.append(l.world.Withdraw(o.ContractID))
				m.ended = true
			case 3:
				l.append(l.world.Expire(o.ContractID))
				m.ended = true
			}
			check(step, "offer end")
		case k == 6: // record time to a trecTgt: exactly, just before, just after
			if len(ids) == 0 {
				continue
			}
			tgt := models[ids[rng.Intn(len(ids))]].req.TrecTgt
			to := tgt.Add(time.Duration(rng.Intn(3)-1) * time.Microsecond)
			if to.After(l.now) {
				l.advance(to.Sub(l.now))
			}
			if rng.Intn(2) == 0 {
				// A round while ingestion may still be behind the ledger.
				mode = rng.Intn(5)
				_, err := auto.RunOnce(l.ctx)
				require.NoError(t, err, "step %d: round", step)
			}
			check(step, "advance")
		case k == 7 && rng.Intn(3) == 0: // an accepted command commits late, before its deadline
			var late []string
			for _, id := range ids {
				if models[id].late {
					late = append(late, id)
				}
			}
			if len(late) == 0 {
				continue
			}
			id := late[rng.Intn(len(late))]
			w := l.get(id)
			models[id].late = false
			if err := submit(4)(l.ctx, w); err != nil {
				t.Logf("step %d: late commit of %s refused by the ledger: %v", step, id, err)
			}
			check(step, "late commit "+id)
		case k == 7: // support marks failed a withdrawal with nothing on the ledger
			if len(ids) == 0 {
				continue
			}
			id := ids[rng.Intn(len(ids))]
			if models[id].appended > 0 || models[id].late {
				continue
			}
			_, err := l.store.MarkFailed(l.ctx, id, "support")
			var te *withdrawal.TransitionError
			if err != nil && !errors.As(err, &te) && !errors.Is(err, withdrawal.ErrSubmitAttempted) {
				t.Fatalf("step %d: mark failed %s: %v", step, id, err)
			}
			check(step, "mark failed "+id)
		case k == 8 && rng.Intn(2) == 0: // gate
			g, err := l.store.Gate(l.ctx)
			require.NoError(t, err)
			if g.Open() && rng.Intn(3) == 0 {
				require.NoError(t, l.store.Disable(l.ctx, "model"))
				gateOpen = false
			} else if !g.Open() {
				require.NoError(t, l.store.Enable(l.ctx, "model"))
				gateOpen = true
			}
			check(step, "gate")
		case k == 8: // the treasury merges two of its holdings, reserved or not
			inst := insts[rng.Intn(2)]
			var live []ledgertest.TokenHolding
			for _, h := range l.world.Holdings(treasury, inst) {
				if h.Lock == nil {
					live = append(live, h)
				}
			}
			if len(live) < 2 {
				continue
			}
			a, b := live[0], live[1+rng.Intn(len(live)-1)]
			l.append(l.world.MergeSplit(treasury, []string{a.ContractID, b.ContractID}, []string{a.Amount.Add(b.Amount).String()}, inst))
			check(step, "merge")
		default: // ingester restart
			l.stopIngester()
			l.startIngester()
			check(step, "restart")
		}
	}
	// The end: the gate open, time past every trecTgt, every offer ended.
	g, err := l.store.Gate(l.ctx)
	require.NoError(t, err)
	if !g.Open() {
		require.NoError(t, l.store.Enable(l.ctx, "model"))
	}
	l.advance(time.Hour)
	for _, o := range l.world.OpenOffers() {
		l.append(l.world.Reject(o.ContractID))
		for _, m := range models {
			if m.offer == o.ContractID {
				m.ended = true
			}
		}
	}
	check(steps, "end")
	paths := map[string]int{}
	for _, id := range ids {
		w := l.get(id)
		require.False(t, w.Status.Open(), "withdrawal %s still %s at the end", id, w.Status)
		paths[fmt.Sprint(models[id].seen)]++
	}
	t.Logf("%d creates refused by the gate; %d withdrawals, paths seen: %v", disabled, len(ids), paths)
}

// rv112Reach is the transitive closure of Transitions().
func rv112Reach() map[withdrawal.Status]map[withdrawal.Status]bool {
	reach := map[withdrawal.Status]map[withdrawal.Status]bool{}
	for to, froms := range withdrawal.Transitions() {
		for _, from := range froms {
			if reach[from] == nil {
				reach[from] = map[withdrawal.Status]bool{}
			}
			reach[from][to] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, tos := range reach {
			for b := range tos {
				for c := range reach[b] {
					if !tos[c] {
						tos[c], changed = true, true
					}
				}
			}
		}
	}
	return reach
}
