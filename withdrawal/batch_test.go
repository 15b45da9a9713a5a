package withdrawal_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestBatchEqualsOneAtATime hands the same transactions to the Reconciler
// as one batch (most outcomes applied together: one statement moves the
// known withdrawals, one stores the recovered ones) and as one batch per
// transaction (each outcome on its own), and requires the same withdrawals,
// reservations, refunds, anomalies and RecoveryHook calls — and that they
// are the ones the life cycle prescribes.
func TestBatchEqualsOneAtATime(t *testing.T) {
	t.Run("entries from the History handler", func(t *testing.T) { batchEqualsOneAtATime(t, nil, false) })
	t.Run("entries read from token_history", func(t *testing.T) { batchEqualsOneAtATime(t, fromTable{}, false) })
	// The default hook's withdrawals are stored by the statement that takes
	// the lock, not after the hooks' calls.
	t.Run("the default RecoveryHook", func(t *testing.T) { batchEqualsOneAtATime(t, nil, true) })
}

func batchEqualsOneAtATime(t *testing.T, entries withdrawal.WrittenEntries, defaultHook bool) {
	type result struct {
		snapshot  string
		anomalies []string
		hooked    []string
		refunds   map[string]string
	}
	world := &ledgertest.TokenWorld{Sequence: true}
	var envs [2]*env
	var results [2]*result
	for i := range envs {
		r := &result{}
		results[i] = r
		hook := withdrawal.RecoveryFunc(func(ctx context.Context, tx *sqlx.Tx, o *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
			r.hooked = append(r.hooked, o.ID+" "+string(o.Status))
			return withdrawal.RecoverFromLedger(ctx, tx, o)
		})
		var recovery withdrawal.RecoveryHook = hook
		if defaultHook {
			recovery = nil
		}
		envs[i] = newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{
			History:  entries,
			Recovery: recovery,
			OnAnomaly: func(_ context.Context, _ *sqlx.Tx, a *withdrawal.Anomaly) error {
				r.anomalies = append(r.anomalies, a.Outcome.ID+" "+string(a.Kind))
				return nil
			},
		})
		envs[i].world = world
	}
	each := func(f func(e *env)) {
		for _, e := range envs {
			f(e)
		}
	}

	var mints []*ledger.Transaction
	var cids []string
	for range 9 {
		op := world.MintOp(treasury, "100")
		mints = append(mints, world.Tx(op))
		cids = append(cids, op.Created[0].ContractID)
	}
	each(func(e *env) { e.apply(mints...) })
	ids := []string{"wd-1", "wd-2", "wd-3", "wd-6", "wd-7", "wd-8", "wd-9"}
	reserve := []int{0, 1, 2, 3, 4, 5, 8} // cids[6] and cids[7] pay the lost withdrawals
	var ws []*withdrawal.Withdrawal
	each(func(e *env) {
		ws = ws[:0]
		for i, id := range ids {
			ws = append(ws, e.create(e.request(id, "10", cids[reserve[i]])))
		}
	})
	done6 := envs[0].transfer(ws[3], "0")
	o9, i9 := envs[0].offer(ws[6], "0")
	each(func(e *env) {
		e.apply(done6, o9)
		_, err := e.store.MarkSubmitted(e.ctx, "wd-2")
		require.NoError(t, err)
		_, err = e.store.MarkFailed(e.ctx, "wd-7", "signing service refused")
		require.NoError(t, err)
	})

	t1 := envs[0].transfer(ws[0], "0.1")
	t2, _ := envs[0].offer(ws[1], "0")
	t3, i3 := envs[0].offer(ws[2], "0")
	r3 := world.Reject(i3)
	t4 := world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "7", InputHoldings: cids[6:7], Reason: "wd-lost-4"})
	t5, i5 := world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "8", InputHoldings: cids[7:8], Reason: "wd-lost-5"})
	a5 := world.Accept(i5)
	t7 := envs[0].transfer(ws[4], "0")
	t8 := world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "11", InputHoldings: cids[5:6], Reason: "wd-8"})
	w9 := world.Withdraw(i9)
	txs := []*ledger.Transaction{t1, t2, t3, r3, t4, t5, a5, done6, t7, t8, w9}

	envs[0].apply(txs...)
	for _, tx := range txs {
		envs[1].apply(tx)
	}

	for i, e := range envs {
		r := results[i]
		r.snapshot = withdrawalState(t, e.db)
		r.refunds = refunds(t, e.db)
		slices.Sort(r.anomalies)
		slices.Sort(r.hooked)
	}
	require.Equal(t, results[1], results[0], "one batch and one transaction per batch end the same")

	e := envs[0]
	want := map[string]withdrawal.Status{
		"wd-1": withdrawal.StatusCompleted, "wd-2": withdrawal.StatusPendingAcceptance, "wd-3": withdrawal.StatusRejected,
		"wd-lost-4": withdrawal.StatusRecovered, "wd-lost-5": withdrawal.StatusRecovered, "wd-6": withdrawal.StatusCompleted,
		"wd-7": withdrawal.StatusFailed, "wd-8": withdrawal.StatusCompleted, "wd-9": withdrawal.StatusWithdrawn,
	}
	for id, st := range want {
		require.Equal(t, st, e.get(id).Status, id)
	}
	require.Equal(t, t1.UpdateID, e.get("wd-1").UpdateID)
	requireDec(t, "0.1", e.get("wd-1").Fee)
	require.Equal(t, done6.UpdateID, e.get("wd-6").UpdateID, "the replayed transfer changed nothing")
	require.Equal(t, a5.UpdateID, e.get("wd-lost-5").UpdateID)
	require.Equal(t, r3.UpdateID, e.get("wd-3").UpdateID)
	require.Equal(t, []string{"wd-7 illegal_transition", "wd-8 mismatch"}, results[0].anomalies)
	if !defaultHook {
		require.Equal(t, []string{"wd-lost-4 completed", "wd-lost-5 pending_acceptance"}, results[0].hooked)
	}
	require.True(t, e.get("wd-lost-4").Recovered)
	requireDec(t, "7", e.get("wd-lost-4").Amount)
	require.Equal(t, map[string]string{"wd-3": "11", "wd-7": "11", "wd-9": "11"}, results[0].refunds)
	require.Empty(t, e.reservations(), "every withdrawal left its reservations")
}

// TestBatchExpiresWithItsOutcomes: a batch with withdrawal outcomes
// expires the withdrawals it makes due in the statement that locks the
// ones it names, and expires a named one only if it is still open after its
// outcome, as a batch of no outcomes (expireDue) would.
func TestBatchExpiresWithItsOutcomes(t *testing.T) {
	setup := func(t *testing.T) (*env, []*withdrawal.Withdrawal) {
		e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{
			OnAnomaly: func(context.Context, *sqlx.Tx, *withdrawal.Anomaly) error { return nil },
		})
		cids := e.mint("20", "20", "20", "20")
		var ws []*withdrawal.Withdrawal
		for i, id := range []string{"wd-due", "wd-paid", "wd-late", "wd-offered"} {
			ws = append(ws, e.create(e.request(id, "10", cids[i])))
		}
		return e, ws
	}

	t.Run("unnamed, named and recovered withdrawals in one batch", func(t *testing.T) {
		e, ws := setup(t)
		due, paid := ws[0], ws[1]
		lost := e.mint("30")
		// The transfers are committed before trecTgt; the batch's checkpoint
		// then moves the record time past it.
		pay := e.transfer(paid, "0")
		recovered := e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "9",
			InputHoldings: lost, Reason: "wd-lost"})
		require.NoError(t, e.run(e.batch(due.TrecTgt.Add(time.Second), pay, recovered)))

		require.Equal(t, withdrawal.StatusExpired, e.get(due.ID).Status, "due, not named by the batch")
		require.Equal(t, withdrawal.StatusCompleted, e.get(paid.ID).Status, "due, but paid in the batch")
		require.Equal(t, withdrawal.StatusRecovered, e.get("wd-lost").Status)
		require.True(t, e.get("wd-lost").Recovered)
		for _, w := range ws[2:] {
			require.Equal(t, withdrawal.StatusExpired, e.get(w.ID).Status, w.ID)
		}
		require.Equal(t, map[string]string{"wd-due": "11", "wd-late": "11", "wd-offered": "11"}, refunds(t, e.db))
		require.Empty(t, e.reservations())
	})

	t.Run("a named withdrawal still open after its outcome expires in the batch", func(t *testing.T) {
		e, ws := setup(t)
		offered := ws[3]
		offer, instr := e.offer(offered, "0")
		e.apply(offer)
		require.Equal(t, withdrawal.StatusPendingAcceptance, e.get(offered.ID).Status)
		// A restore of the Integration DB undid the offer's mark; the
		// rejection then names a withdrawal that is still requested, which
		// the life cycle refuses (OnAnomaly goes on).
		_, err := e.db.ExecContext(e.ctx, `UPDATE txhistory.withdrawal SET status = 'requested', update_id = '',
			ledger_offset = NULL, record_time = NULL WHERE id = $1`, offered.ID)
		require.NoError(t, err)
		reject := e.world.Reject(instr)
		require.NoError(t, e.run(e.batch(offered.TrecTgt.Add(time.Second), reject)))
		require.Equal(t, withdrawal.StatusExpired, e.get(offered.ID).Status)
		require.Equal(t, "11", refunds(t, e.db)[offered.ID])
	})

	t.Run("nothing expires while a transaction set aside for review is unresolved", func(t *testing.T) {
		e, ws := setup(t)
		_, err := e.db.ExecContext(e.ctx, `INSERT INTO txhistory.review_transaction (update_id, ledger_offset, error)
			VALUES ('upd-unreadable', 99, 'malformed')`)
		require.NoError(t, err)
		pay := e.transfer(ws[1], "0")
		require.NoError(t, e.run(e.batch(ws[0].TrecTgt.Add(time.Second), pay)))
		require.Equal(t, withdrawal.StatusCompleted, e.get(ws[1].ID).Status)
		for _, w := range []*withdrawal.Withdrawal{ws[0], ws[2], ws[3]} {
			require.Equal(t, withdrawal.StatusRequested, e.get(w.ID).Status, w.ID)
		}
		require.Empty(t, refunds(t, e.db))
	})
}

// withdrawalState renders the withdrawals and reservations without the
// wall-clock columns.
func withdrawalState(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var rows []string
	require.NoError(t, db.Select(&rows, `SELECT concat_ws(' | ', id, user_account, amount, instrument_admin, instrument_id,
			receiver, reserved_holdings::text, reserved_funds, trec_tgt, synchronizer_id, status, recovered, instruction_cid,
			update_id, ledger_offset, record_time, transferred, fee, failure_reason, closed_at IS NOT NULL)
		FROM txhistory.withdrawal ORDER BY id`))
	var res []string
	require.NoError(t, db.Select(&res, `SELECT contract_id || ' ' || withdrawal_id FROM txhistory.withdrawal_reservation ORDER BY 1`))
	return strings.Join(rows, "\n") + "\n--\n" + strings.Join(res, "\n")
}

// TestReconcilerBeforeHistoryFails: given the History handler, the
// Reconciler refuses a batch the History handler has not handled first,
// rather than seeing no transfer and expiring paid withdrawals.
func TestReconcilerBeforeHistoryFails(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("100")
	w := e.create(e.request("wd-1", "50", cids[0]))
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	rec, err := withdrawal.NewReconciler(e.store, withdrawal.ReconcilerConfig{History: history, Logger: quietLog})
	require.NoError(t, err)
	e.handler = ingest.Handlers(rec, history)
	err = e.run(e.batch(time.Time{}, e.transfer(w, "0")))
	require.ErrorContains(t, err, "has not handled batch")
	require.ErrorContains(t, err, "ingest.Handlers(history, reconciler)")
	require.Equal(t, withdrawal.StatusRequested, e.get(w.ID).Status)
}
