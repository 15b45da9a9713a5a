package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// An exchange runs ingestion with the History handler alone for a while
// (the Reconciler left out of the chain), then restarts it with the
// Reconciler, against the same Integration DB. A withdrawal paid out (or
// offered) while the Reconciler was off is in token_history, with its id,
// but its row stayed submitted. Once the ingested record time passes its
// trecTgt, the Reconciler must not expire it and credit its user back:
// the treasury paid it (or may still pay it). One whose offer was
// rejected meanwhile got its funds back: it expires, refunded, as before.
func TestReconcilerAddedLaterDoesNotRefundWhatWasPaid(t *testing.T) {
	for _, sc := range []struct {
		name     string
		ledger   func(l *live, w *withdrawal.Withdrawal) []*ledger.Transaction
		refunded bool
	}{{
		name: "paid",
		ledger: func(l *live, w *withdrawal.Withdrawal) []*ledger.Transaction {
			return []*ledger.Transaction{l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver,
				Amount: w.Amount.String(), InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.5"})}
		},
	}, {
		name: "offered",
		ledger: func(l *live, w *withdrawal.Withdrawal) []*ledger.Transaction {
			offer, _ := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver,
				Amount: w.Amount.String(), InputHoldings: w.ReservedHoldings, Reason: w.ID})
			return []*ledger.Transaction{offer}
		},
	}, {
		name: "offered and rejected",
		ledger: func(l *live, w *withdrawal.Withdrawal) []*ledger.Transaction {
			offer, instr := l.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver,
				Amount: w.Amount.String(), InputHoldings: w.ReservedHoldings, Reason: w.ID})
			return []*ledger.Transaction{offer, l.world.Reject(instr)}
		},
		refunded: true,
	}} {
		t.Run(sc.name, func(t *testing.T) {
			l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
			cids := l.mint("100")
			historyOnly := func() {
				t.Helper()
				history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
				require.NoError(t, err)
				ing, err := ingest.New(l.db, l.client, ingest.Config{Parties: []string{treasury}, Handler: history,
					EndOffset: l.p.LedgerEnd(), Logger: quietLog})
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
				defer cancel()
				require.NoError(t, ing.Run(ctx))
			}
			historyOnly()
			w := l.submitted("wd-paid", "40", cids[0])
			l.append(sc.ledger(l, w)...)
			historyOnly()
			var paidBy string
			require.NoError(t, l.db.GetContext(l.ctx, &paidBy, `SELECT min(update_id) FROM txhistory.token_history WHERE withdrawal_id = $1`, w.ID),
				"the History handler recorded the withdrawal's transfer")
			require.Equal(t, withdrawal.StatusSubmitted, l.get(w.ID).Status)

			// Restarted with the Reconciler; the record time passes trecTgt.
			l.startIngester()
			l.advance(ttl + time.Minute)
			l.caughtUp()
			l.stopIngester()

			var refunds int
			require.NoError(t, l.db.GetContext(l.ctx, &refunds, `SELECT count(*) FROM public.refund WHERE withdrawal_id = $1`, w.ID))
			if sc.refunded {
				require.Equal(t, 1, refunds, "withdrawal %s, whose offer was rejected, was not refunded", w.ID)
				require.Equal(t, withdrawal.StatusExpired, l.get(w.ID).Status)
				return
			}
			require.Zero(t, refunds, "withdrawal %s was paid on the ledger (update %s) while the Reconciler was off, and was refunded too", w.ID, paidBy)
			require.NotEqual(t, withdrawal.StatusExpired, l.get(w.ID).Status, "a withdrawal whose transfer is in token_history was expired")
		})
	}
}
