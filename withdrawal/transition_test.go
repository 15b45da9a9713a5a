package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestLifeCycleOnTheLedger walks every path of the life cycle with
// transactions the History handler and the Reconciler see as in ingestion.
func TestLifeCycleOnTheLedger(t *testing.T) {
	t.Run("1-step: requested, submitted, completed", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("70", "50")
		w := e.create(e.request("wd-1", "100", cids...))
		w, err := e.store.MarkSubmitted(e.ctx, w.ID)
		require.NoError(t, err)
		require.Equal(t, withdrawal.StatusSubmitted, w.Status)
		require.NotNil(t, w.SubmittedAt)
		tx := e.transfer(w, "0.25")
		e.apply(tx)
		w = e.get("wd-1")
		require.Equal(t, withdrawal.StatusCompleted, w.Status)
		require.Equal(t, tx.UpdateID, w.UpdateID)
		require.Equal(t, tx.Offset, w.Offset)
		require.Equal(t, tx.RecordTime, w.RecordTime)
		requireDec(t, "100", w.Transferred)
		requireDec(t, "0.25", w.Fee)
		require.NotNil(t, w.ClosedAt)
		require.Empty(t, e.reservations(), "a completed withdrawal holds no reservation")
		require.Empty(t, refunds(t, e.db))

		// The automation marking it late changes nothing.
		again, err := e.store.MarkSubmitted(e.ctx, w.ID)
		require.NoError(t, err)
		require.Equal(t, withdrawal.StatusCompleted, again.Status)
		// Nor can it fail now.
		_, err = e.store.MarkFailed(e.ctx, w.ID, "no pre-approval")
		var te *withdrawal.TransitionError
		require.ErrorAs(t, err, &te)
		require.Equal(t, withdrawal.StatusCompleted, te.From)
		require.Equal(t, withdrawal.StatusFailed, te.To)
		require.ErrorIs(t, err, withdrawal.ErrIllegalTransition)
	})

	t.Run("1-step straight from requested", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("70")
		w := e.create(e.request("wd-1", "60", cids...))
		e.apply(e.transfer(w, "0"))
		require.Equal(t, withdrawal.StatusCompleted, e.get("wd-1").Status)
	})

	t.Run("failed: no pre-approval, idempotent", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("70")
		w := e.create(e.request("wd-1", "60", cids...))
		for range 2 {
			w, err := e.store.MarkFailed(e.ctx, w.ID, "receiver has no transfer pre-approval")
			require.NoError(t, err)
			require.Equal(t, withdrawal.StatusFailed, w.Status)
			require.Equal(t, "receiver has no transfer pre-approval", w.FailureReason)
		}
		require.Empty(t, e.reservations())
		require.Equal(t, map[string]string{"wd-1": "61"}, refunds(t, e.db), "refunded once")
		_, err := e.store.MarkFailed(e.ctx, "wd-nope", "x")
		require.ErrorIs(t, err, withdrawal.ErrNotFound)
		// The holding is free again.
		e.create(e.request("wd-2", "60", cids...))
	})

	t.Run("multi-step: offer accepted", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("80")
		w := e.create(e.request("wd-1", "60", cids...))
		offerTx, icid := e.offer(w, "0.5")
		e.apply(offerTx)
		w = e.get("wd-1")
		require.Equal(t, withdrawal.StatusPendingAcceptance, w.Status)
		require.Equal(t, icid, w.InstructionCID)
		require.Equal(t, offerTx.UpdateID, w.UpdateID)
		require.Nil(t, w.ClosedAt)
		require.Empty(t, e.reservations(), "the offer spent the reserved holdings")
		accept := e.world.Accept(icid)
		e.apply(accept)
		w = e.get("wd-1")
		require.Equal(t, withdrawal.StatusCompleted, w.Status)
		require.Equal(t, accept.UpdateID, w.UpdateID)
		require.Equal(t, accept.RecordTime, w.RecordTime)
		requireDec(t, "0.5", w.Fee)
		requireDec(t, "60", w.Transferred)
		require.Empty(t, refunds(t, e.db))
	})

	for _, c := range []struct {
		name  string
		close func(e *env, icid string)
		want  withdrawal.Status
	}{
		{"multi-step: offer rejected", func(e *env, icid string) { e.apply(e.world.Reject(icid)) }, withdrawal.StatusRejected},
		{"multi-step: offer withdrawn", func(e *env, icid string) { e.apply(e.world.Withdraw(icid)) }, withdrawal.StatusWithdrawn},
		{"multi-step: offer expired", func(e *env, icid string) { e.apply(e.world.Expire(icid)) }, withdrawal.StatusExpired},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			cids := e.mint("80")
			w := e.create(e.request("wd-1", "60", cids...))
			offerTx, icid := e.offer(w, "0.5")
			e.apply(offerTx)
			c.close(e, icid)
			w = e.get("wd-1")
			require.Equal(t, c.want, w.Status)
			require.Equal(t, icid, w.InstructionCID)
			require.NotNil(t, w.ClosedAt)
			require.Equal(t, map[string]string{"wd-1": "61"}, refunds(t, e.db), "the user is credited back once")
			require.Empty(t, e.reservations())
			// Nothing moved: the locked funds came back. An exchange summing
			// Transferred must not count a refunded withdrawal as paid out.
			require.True(t, w.Transferred.IsZero(), "a %s withdrawal reports %s transferred", w.Status, w.Transferred)
		})
	}

	t.Run("expired by an offset checkpoint", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("80", "80")
		w1 := e.create(e.request("wd-1", "60", cids[0]))
		w2 := e.create(e.request("wd-2", "60", cids[1]))
		_, err := e.store.MarkSubmitted(e.ctx, w2.ID)
		require.NoError(t, err)
		e.tick(w1.TrecTgt) // not below the record time yet
		require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)
		e.tick(w1.TrecTgt.Add(time.Microsecond))
		for _, id := range []string{"wd-1", "wd-2"} {
			w := e.get(id)
			require.Equal(t, withdrawal.StatusExpired, w.Status, id)
			require.Empty(t, w.UpdateID)
			require.NotNil(t, w.ClosedAt)
		}
		require.Empty(t, e.reservations())
		require.Equal(t, map[string]string{"wd-1": "61", "wd-2": "61"}, refunds(t, e.db))
		// A transfer after trecTgt cannot happen; if the ledger shows one
		// anyway the reconciler stops with an anomaly.
		err = e.run(e.batch(time.Time{}, e.transfer(w1, "0")))
		var a *withdrawal.Anomaly
		require.ErrorAs(t, err, &a)
		require.Equal(t, withdrawal.AnomalyIllegalTransition, a.Kind)
		require.Equal(t, withdrawal.StatusExpired, a.Withdrawal.Status)
		require.Contains(t, err.Error(), "expired, it cannot become completed")
	})

	t.Run("expired by a transaction's record time", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("80")
		w := e.create(e.request("wd-1", "60", cids[0]))
		e.world.Advance(ttl + time.Second)
		e.apply(e.world.Mint("customer::1", "5")) // someone else's transaction, past trecTgt
		require.Equal(t, withdrawal.StatusExpired, e.get(w.ID).Status)
	})

	t.Run("a transfer in the batch that passes trecTgt completes, not expires", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("80")
		w := e.create(e.request("wd-1", "60", cids[0]))
		tx := e.transfer(w, "0")
		require.True(t, tx.RecordTime.Before(w.TrecTgt))
		require.NoError(t, e.run(e.batch(w.TrecTgt.Add(time.Hour), tx)))
		require.Equal(t, withdrawal.StatusCompleted, e.get(w.ID).Status)
		require.Empty(t, refunds(t, e.db))
	})

	t.Run("nothing expires while a transaction set aside for review is unresolved", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("80")
		w := e.create(e.request("wd-1", "60", cids[0]))
		_, err := e.db.ExecContext(e.ctx, `INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error)
			VALUES ('upd-unreadable', 99, 'malformed')`)
		require.NoError(t, err)
		e.tick(w.TrecTgt.Add(time.Second))
		require.Equal(t, withdrawal.StatusRequested, e.get(w.ID).Status, "it may have been paid by the set-aside transaction")
		_, err = e.db.ExecContext(e.ctx, `UPDATE txhistory.review_transaction SET resolved_at = now(), resolution = 'not ours'`)
		require.NoError(t, err)
		e.tick(w.TrecTgt.Add(2 * time.Second))
		require.Equal(t, withdrawal.StatusExpired, e.get(w.ID).Status)
	})

	t.Run("the clock is per synchronizer", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("80", "80")
		r := e.request("wd-other", "60", cids[0])
		r.SynchronizerID = "other-sync::1"
		e.create(r)
		e.create(e.request("wd-default", "60", cids[1]))
		e.tick(r.TrecTgt.Add(time.Second))
		require.Equal(t, withdrawal.StatusRequested, e.get("wd-other").Status, "nothing ingested on its synchronizer")
		require.Equal(t, withdrawal.StatusExpired, e.get("wd-default").Status)
	})
}

// TestEveryTransition tries every outcome from every status and checks it
// against the life cycle table: allowed moves change the status, repeats
// change nothing, others are a *TransitionError that leaves the row alone.
func TestEveryTransition(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	allowed := withdrawal.Transitions()
	require.ElementsMatch(t, []withdrawal.Status{withdrawal.StatusRequested}, allowed[withdrawal.StatusSubmitted])
	targets := []withdrawal.Status{withdrawal.StatusSubmitted, withdrawal.StatusPendingAcceptance, withdrawal.StatusCompleted,
		withdrawal.StatusFailed, withdrawal.StatusExpired, withdrawal.StatusRejected, withdrawal.StatusWithdrawn}
	n := 0
	for _, from := range withdrawal.Statuses() {
		for _, to := range targets {
			n++
			id := fmt.Sprintf("wd-%d", n)
			cids := e.mint("10")
			e.create(e.request(id, "5", cids...))
			_, err := e.db.ExecContext(e.ctx, `UPDATE txhistory.withdrawal SET status = $2 WHERE id = $1`, id, string(from))
			require.NoError(t, err)
			before := e.get(id)
			move := func() (*withdrawal.Withdrawal, error) {
				switch to {
				case withdrawal.StatusSubmitted:
					return e.store.MarkSubmitted(e.ctx, id)
				case withdrawal.StatusFailed:
					return e.store.MarkFailed(e.ctx, id, "test")
				}
				return e.store.ApplyOutcome(e.ctx, withdrawal.Outcome{ID: id, Status: to, UpdateID: "upd-" + id,
					RecordTime: e.world.Now(), Instrument: before.Instrument, Transferred: before.Amount})
			}
			w, err := move()
			name := fmt.Sprintf("%s → %s", from, to)
			want := to
			if to == withdrawal.StatusCompleted && from == withdrawal.StatusRecovered {
				want = withdrawal.StatusRecovered
			}
			allowedFrom := allowed[to]
			if to == withdrawal.StatusFailed { // MarkFailed: not once the instruction is on the ledger
				allowedFrom = []withdrawal.Status{withdrawal.StatusRequested, withdrawal.StatusSubmitted}
			}
			switch {
			case slices.Contains(allowedFrom, from):
				require.NoError(t, err, name)
				require.Equal(t, want, w.Status, name)
				after := e.get(id)
				require.Equal(t, want, after.Status, name)
				require.Equal(t, !to.Open() && to != withdrawal.StatusSubmitted, w.ClosedAt != nil, name)
				if to != withdrawal.StatusSubmitted {
					require.NotContains(t, e.reservations(), cids[0], name+": reservation released")
				}
				_, refunded := refunds(t, e.db)[id]
				require.Equal(t, slices.Contains([]withdrawal.Status{withdrawal.StatusFailed, withdrawal.StatusExpired,
					withdrawal.StatusRejected, withdrawal.StatusWithdrawn}, to), refunded, name+": refund")
				// Repeating it changes nothing.
				again, err := move()
				require.NoError(t, err, name+" again")
				require.Equal(t, after, again, name+" again")
				require.Equal(t, after, e.get(id), name+" again")
			case to == withdrawal.StatusSubmitted || (to == withdrawal.StatusFailed && from == withdrawal.StatusFailed):
				// A late submitted mark, or failing again: nothing changes.
				require.NoError(t, err, name)
				require.Equal(t, before, e.get(id), name)
			default:
				var te *withdrawal.TransitionError
				require.ErrorAs(t, err, &te, name)
				require.Equal(t, from, te.From, name)
				require.Equal(t, to, te.To, name)
				require.Equal(t, before, e.get(id), name+": unchanged")
			}
		}
	}
	_, err := e.store.ApplyOutcome(e.ctx, withdrawal.Outcome{ID: "wd-none", Status: withdrawal.StatusCompleted})
	require.ErrorIs(t, err, withdrawal.ErrNotFound)
	_, err = e.store.ApplyOutcome(e.ctx, withdrawal.Outcome{ID: "wd-1", Status: withdrawal.StatusSubmitted})
	require.ErrorContains(t, err, "not a ledger outcome")
}

// TestReplayChangesNothing hands every batch of a busy history to the
// handlers a second time, in order and then backwards: the withdrawal
// records, reservations, refunds and gate stay as they were.
func TestReplayChangesNothing(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("100", "100", "100", "100", "100", "100")
	ws := make([]*withdrawal.Withdrawal, 6)
	for i := range ws {
		ws[i] = e.create(e.request(fmt.Sprintf("wd-%d", i), "50", cids[i]))
	}
	e.apply(e.transfer(ws[0], "0.1"))                               // completed
	o1, i1 := e.offer(ws[1], "0.2")                                 // pending, then accepted
	o2, i2 := e.offer(ws[2], "0.2")                                 // pending, then rejected
	o3, _ := e.offer(ws[3], "0")                                    // pending
	e.apply(o1, o2, o3)                                             //
	e.apply(e.world.Accept(i1), e.world.Reject(i2))                 //
	_, err := e.store.MarkFailed(e.ctx, ws[4].ID, "no preapproval") // failed
	require.NoError(t, err)
	e.apply(e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: "stranger::1", Amount: "10",
		Reason: "wd-lost"})) // recovered
	e.tick(ws[5].TrecTgt.Add(time.Second)) // wd-5 expires
	want := map[string]withdrawal.Status{"wd-0": withdrawal.StatusCompleted, "wd-1": withdrawal.StatusCompleted,
		"wd-2": withdrawal.StatusRejected, "wd-3": withdrawal.StatusPendingAcceptance, "wd-4": withdrawal.StatusFailed,
		"wd-5": withdrawal.StatusExpired, "wd-lost": withdrawal.StatusRecovered}
	for id, st := range want {
		require.Equal(t, st, e.get(id).Status, id)
	}
	before := snapshot(t, e.db)
	batches := slices.Clone(e.batches)
	for _, b := range batches {
		require.NoError(t, e.replay(b))
	}
	require.Equal(t, before, snapshot(t, e.db), "replay in order")
	for i := len(batches) - 1; i >= 0; i-- {
		require.NoError(t, e.replay(batches[i]))
	}
	require.Equal(t, before, snapshot(t, e.db), "replay backwards")
}

// TestAnomalies: the ledger contradicting the records stops the batch by
// default; an OnAnomaly hook can record and go on.
func TestAnomalies(t *testing.T) {
	t.Run("double execution", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		cids := e.mint("100", "100")
		w := e.create(e.request("wd-1", "50", cids[0]))
		first := e.transfer(w, "0")
		e.apply(first)
		second := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "50",
			InputHoldings: cids[1:], Reason: "wd-1"})
		err := e.run(e.batch(time.Time{}, second))
		var a *withdrawal.Anomaly
		require.ErrorAs(t, err, &a)
		require.ErrorIs(t, err, withdrawal.ErrAnomaly)
		require.Equal(t, withdrawal.AnomalyDoubleExecution, a.Kind)
		require.Equal(t, second.UpdateID, a.Outcome.UpdateID)
		require.Equal(t, first.UpdateID, a.Withdrawal.UpdateID)
		var n int
		require.NoError(t, e.db.Get(&n, `SELECT count(*) FROM txhistory.token_history WHERE update_id = $1`, second.UpdateID))
		require.Zero(t, n, "the batch was not committed")
	})

	t.Run("mismatch, recorded by the hook", func(t *testing.T) {
		var seen []*withdrawal.Anomaly
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{
			OnAnomaly: func(ctx context.Context, tx *sqlx.Tx, a *withdrawal.Anomaly) error {
				seen = append(seen, a)
				return nil
			},
		})
		cids := e.mint("100")
		w := e.create(e.request("wd-1", "50", cids[0]))
		e.apply(e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "55",
			InputHoldings: cids, Reason: "wd-1"}))
		require.Len(t, seen, 1)
		require.Equal(t, withdrawal.AnomalyMismatch, seen[0].Kind)
		require.Contains(t, seen[0].Detail, "moved 55")
		got := e.get(w.ID)
		require.Equal(t, withdrawal.StatusCompleted, got.Status, "the ledger is the truth about the funds")
		requireDec(t, "55", got.Transferred)
	})
}

// TestReconcilerIgnores: transfers that are not withdrawals of the exchange.
func TestReconcilerIgnores(t *testing.T) {
	e := newEnv(t, withdrawal.Config{IsWithdrawalID: func(id string) bool { return len(id) > 3 && id[:3] == "wd-" }},
		withdrawal.ReconcilerConfig{})
	cids := e.mint("100", "100", "100")
	e.apply(
		e.world.Mint("customer::1", "10"),
		e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "5", Reason: "rebalance-7"}),
		e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "5"}),
		e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: "100", InputHoldings: cids[2:], Reason: "wd-merge"}),
		e.world.Transfer(ledgertest.TransferSpec{Sender: "customer::1", Receiver: treasury, Amount: "1", Reason: "wd-deposit"}),
	)
	all, err := e.store.ListByStatus(e.ctx)
	require.NoError(t, err)
	require.Empty(t, all)
}

// TestRecovery: transfers whose withdrawal id is unknown are re-created by
// the RecoveryHook.
func TestRecovery(t *testing.T) {
	t.Run("default hook: the ledger's fields, the rest blank", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		e.mint("100", "100")
		tx := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "42.5", Fee: "0.3", Reason: "wd-lost-1"})
		e.apply(tx)
		w := e.get("wd-lost-1")
		require.Equal(t, withdrawal.StatusRecovered, w.Status)
		require.True(t, w.Recovered)
		requireDec(t, "42.5", w.Amount)
		requireDec(t, "42.5", w.Transferred)
		requireDec(t, "0.3", w.Fee)
		require.Equal(t, instrument(e.world.Instrument()), w.Instrument)
		require.Equal(t, external, w.Receiver)
		require.Equal(t, tx.UpdateID, w.UpdateID)
		require.Equal(t, tx.Offset, w.Offset)
		require.Equal(t, tx.RecordTime, w.RecordTime)
		require.Empty(t, w.UserAccount)
		require.True(t, w.TrecTgt.IsZero())
		require.True(t, w.ReservedFunds.IsZero())
		require.Empty(t, w.ReservedHoldings)
		require.NotNil(t, w.ClosedAt)
		require.Empty(t, refunds(t, e.db))
		// Creating it now is a conflict, not a new request: it was paid.
		cids := e.mint("100")
		_, err := e.store.Create(e.ctx, e.request("wd-lost-1", "42.5", cids...))
		require.ErrorIs(t, err, withdrawal.ErrIDConflict)
		require.ErrorContains(t, err, "recovered from the ledger")
	})

	t.Run("an offer, then its acceptance", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
		e.mint("100")
		offerTx, icid := e.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30", Fee: "1", Reason: "wd-lost-2"})
		e.apply(offerTx)
		w := e.get("wd-lost-2")
		require.Equal(t, withdrawal.StatusPendingAcceptance, w.Status)
		require.True(t, w.Recovered)
		require.Equal(t, icid, w.InstructionCID)
		accept := e.world.Accept(icid)
		e.apply(accept)
		w = e.get("wd-lost-2")
		require.Equal(t, withdrawal.StatusRecovered, w.Status)
		require.Equal(t, accept.UpdateID, w.UpdateID)
		requireDec(t, "1", w.Fee)
	})

	t.Run("an exchange hook reading the transfer's metadata", func(t *testing.T) {
		const accountKey, fundsKey = "exchange.example/account", "exchange.example/reserved"
		var calls []withdrawal.Outcome
		hook := withdrawal.RecoveryFunc(func(ctx context.Context, tx *sqlx.Tx, o *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
			calls = append(calls, *o)
			w, err := withdrawal.RecoverFromLedger(ctx, tx, o)
			if err != nil {
				return nil, err
			}
			w.UserAccount = o.Meta[accountKey]
			if s := o.Meta[fundsKey]; s != "" {
				w.ReservedFunds = dec(s)
			}
			// The exchange debits the user again, in the same transaction.
			_, err = tx.ExecContext(ctx, `INSERT INTO public.refund VALUES ($1, $2, -$3::numeric, 'debited again')`,
				"debit-"+o.ID, w.UserAccount, w.ReservedFunds.String())
			return w, err
		})
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{Recovery: hook})
		e.mint("100")
		tx := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "20", Reason: "wd-lost-3",
			Meta: map[string]string{accountKey: "user-77", fundsKey: "20.5"}})
		e.apply(tx)
		w := e.get("wd-lost-3")
		require.Equal(t, withdrawal.StatusRecovered, w.Status)
		require.Equal(t, "user-77", w.UserAccount)
		requireDec(t, "20.5", w.ReservedFunds)
		require.Equal(t, tx.UpdateID, w.UpdateID)
		require.Len(t, calls, 1)
		require.Equal(t, withdrawal.StatusCompleted, calls[0].Status)
		require.Equal(t, tokenstd.KindWithdrawal, calls[0].Kind)
		require.Contains(t, refunds(t, e.db), "debit-wd-lost-3")
		// A replay does not call the hook again.
		require.NoError(t, e.replay(e.batches[len(e.batches)-1]))
		require.Len(t, calls, 1)
	})

	t.Run("a hook error aborts the batch", func(t *testing.T) {
		boom := errors.New("metadata service down")
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{
			Recovery: withdrawal.RecoveryFunc(func(context.Context, *sqlx.Tx, *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
				return nil, boom
			}),
		})
		cids := e.mint("100", "100")
		known := e.create(e.request("wd-known", "10", cids[0]))
		done := e.transfer(known, "0")
		lost := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "20", Reason: "wd-lost-4"})
		err := e.run(e.batch(time.Time{}, done, lost))
		require.ErrorIs(t, err, boom)
		require.ErrorContains(t, err, "wd-lost-4")
		require.Equal(t, withdrawal.StatusRequested, e.get("wd-known").Status, "nothing of the batch is committed")
		_, err = e.store.Get(e.ctx, "wd-lost-4")
		require.ErrorIs(t, err, withdrawal.ErrNotFound)
		var n int
		require.NoError(t, e.db.Get(&n, `SELECT count(*) FROM txhistory.token_history WHERE update_id IN ($1, $2)`, done.UpdateID, lost.UpdateID))
		require.Zero(t, n)
	})

	t.Run("a hook returning a negative amount or reserved funds stops the batch", func(t *testing.T) {
		for _, field := range []string{"amount", "reserved funds"} {
			t.Run(field, func(t *testing.T) {
				hook := withdrawal.RecoveryFunc(func(ctx context.Context, tx *sqlx.Tx, o *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
					w, err := withdrawal.RecoverFromLedger(ctx, tx, o)
					if err != nil {
						return nil, err
					}
					if field == "amount" {
						w.Amount = o.Transferred.Neg() // the user's books' sign
					} else {
						w.ReservedFunds = dec("-20.5")
					}
					return w, nil
				})
				e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{Recovery: hook})
				e.mint("100")
				lost := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "20", Reason: "wd-lost-neg"})
				err := e.run(e.batch(time.Time{}, lost))
				require.Error(t, err, "a negative %s from the hook was stored as its absolute value", field)
				require.ErrorContains(t, err, "wd-lost-neg")
				require.ErrorContains(t, err, lost.UpdateID)
				require.ErrorContains(t, err, "negative "+field)
				_, err = e.store.Get(e.ctx, "wd-lost-neg")
				require.ErrorIs(t, err, withdrawal.ErrNotFound, "nothing of the batch is committed")
			})
		}
	})

	t.Run("a hook declining", func(t *testing.T) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{
			Recovery: withdrawal.RecoveryFunc(func(context.Context, *sqlx.Tx, *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
				return nil, nil
			}),
		})
		e.mint("100")
		e.apply(e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "20", Reason: "wd-lost-5"}))
		_, err := e.store.Get(e.ctx, "wd-lost-5")
		require.ErrorIs(t, err, withdrawal.ErrNotFound)
	})
}

var _ ingest.Handler = (*withdrawal.Reconciler)(nil)
