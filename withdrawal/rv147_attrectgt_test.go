package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A withdrawal's transfer may commit at exactly its trecTgt (the contract:
// it cannot commit after trecTgt). Through the real Ingester tailing the
// fake participant, with later transactions and time advances passing
// trecTgt in the same or later batches: the 1-step withdrawal completes,
// the offered one is pending acceptance and completes on acceptance, and
// neither is ever expired nor refunded; one whose trecTgt is a microsecond
// before, never paid, expires and is refunded once.
func TestRV147TransferAtExactlyTrecTgt(t *testing.T) {
	for _, offered := range []bool{false, true} {
		name := "1-step"
		if offered {
			name = "offer"
		}
		t.Run(name, func(t *testing.T) {
			l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
			cids := l.mintAndCatchUp("100", "100")
			w := l.submitted("wd-at", "50", cids[0])
			before := l.request("wd-before", "50", cids[1])
			before.TrecTgt = w.TrecTgt.Add(-time.Microsecond)
			_, err := l.store.Create(l.ctx, before)
			require.NoError(t, err)

			spec := ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "50", InputHoldings: w.ReservedHoldings, Reason: w.ID}
			var tx *ledger.Transaction
			var offer string
			if offered {
				tx, offer = l.world.Offer(spec)
			} else {
				tx = l.world.Transfer(spec)
			}
			tx.RecordTime = w.TrecTgt
			later := l.world.Mint(treasury, "1")
			later.RecordTime = w.TrecTgt.Add(time.Microsecond)
			l.append(tx, later)
			l.advance(time.Second)
			l.caughtUp()

			want := withdrawal.StatusCompleted
			if offered {
				want = withdrawal.StatusPendingAcceptance
			}
			got := l.get("wd-at")
			require.Equal(t, want, got.Status, "transfer committed at exactly trecTgt %s", w.TrecTgt.Format(time.RFC3339Nano))
			require.True(t, got.RecordTime.Equal(w.TrecTgt), "record time %s", got.RecordTime)
			require.Equal(t, withdrawal.StatusExpired, l.get("wd-before").Status)
			if offered {
				l.append(l.world.Accept(offer))
				l.advance(time.Second)
				l.caughtUp()
				require.Equal(t, withdrawal.StatusCompleted, l.get("wd-at").Status)
			}
			require.Equal(t, map[string]string{"wd-before": "51"}, refunds(t, l.db), "refunds")
			var reserved []string
			require.NoError(t, l.db.Select(&reserved, `SELECT contract_id || ' ' || withdrawal_id FROM txhistory.withdrawal_reservation`))
			require.Empty(t, reserved)
			l.requireBalancesMatch()
		})
	}
}

// Expiry at equality on one synchronizer while another is past trecTgt:
// the treasury uses A and B (Config.Synchronizers). With A's record time
// an hour past T and B's at exactly T (a transaction, then an
// OffsetCheckpoint at a later offset repeating it), a withdrawal naming B and one
// naming none (the store's clock: the earliest of A and B) whose trecTgt
// is T are not expired, and the Automation does not submit them (a
// submission now would commit after T); one naming A is expired. Another
// transaction at T on B (record times can repeat) is the transfer of the
// one naming B: completed, never refunded. Once B passes T by a
// microsecond the one naming none expires.
func TestRV147ExpiryAtTrecTgtOnTheWithdrawalsSynchronizer(t *testing.T) {
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	l.listSynchronizers()
	cids := l.mint("10", "10", "10")
	onB := l.world.Mint(treasury, "1")
	onB.SynchronizerID = syncB
	l.append(onB)
	l.startIngester()
	l.caughtUp()

	T := l.now.Add(ttl)
	create := func(id, sync, holding string) {
		r := l.request(id, "5", holding)
		r.TrecTgt, r.SynchronizerID = T, sync
		_, err := l.store.Create(l.ctx, r)
		require.NoError(t, err)
	}
	create("wd-a", ledgertest.DefaultSynchronizer, cids[0])
	create("wd-b", syncB, cids[1])
	create("wd-none", "", cids[2])

	l.p.AdvanceTime(ledgertest.DefaultSynchronizer, T.Add(time.Hour))
	atT := l.world.Mint(treasury, "1")
	atT.SynchronizerID, atT.RecordTime = syncB, T
	l.append(atT)
	l.now = T.Add(time.Hour)
	l.caughtUp()
	require.Eventually(t, func() bool { return l.get("wd-a").Status == withdrawal.StatusExpired }, 10*time.Second, 10*time.Millisecond)
	// An OffsetCheckpoint at a new offset with B's time equal to that of
	// its last transaction, T.
	l.p.AdvanceTime(ledgertest.DefaultSynchronizer, T.Add(2*time.Hour))
	l.now = T.Add(2 * time.Hour)
	l.caughtUp()
	for _, id := range []string{"wd-b", "wd-none"} {
		require.Equal(t, withdrawal.StatusRequested, l.get(id).Status, "%s expired with its clock at exactly its trecTgt", id)
	}
	var submitted []string
	auto, err := withdrawal.NewAutomation(l.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(_ context.Context, w *withdrawal.Withdrawal) error {
			submitted = append(submitted, w.ID)
			return nil
		})})
	require.NoError(t, err)
	_, err = auto.RunOnce(l.ctx)
	require.NoError(t, err)
	require.Empty(t, submitted, "submitted with the ingested record time at trecTgt")

	w := l.get("wd-b")
	l.append(l.transferOn(w, syncB, T))
	l.caughtUp()
	require.Equal(t, withdrawal.StatusCompleted, l.get("wd-b").Status)
	require.Equal(t, withdrawal.StatusRequested, l.get("wd-none").Status)

	l.p.AdvanceTime(syncB, T.Add(time.Microsecond))
	require.Eventually(t, func() bool { return l.get("wd-none").Status == withdrawal.StatusExpired }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, map[string]string{"wd-a": "6", "wd-none": "6"}, refunds(t, l.db))
	l.requireBalancesMatch()
}
