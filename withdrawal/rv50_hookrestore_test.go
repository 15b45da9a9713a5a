package withdrawal_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// An exchange that puts the user account on its transfers recovers a lost
// request in its own RecoveryHook, debiting the user again; the
// instruction's end then credits the user back through the Refunder, once.
func TestLostInstructionRecoveredByExchangeHook(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome func(w *ledgertest.TokenWorld, icid string) *ledger.Transaction
		refund  bool
	}{
		{"accepted", (*ledgertest.TokenWorld).Accept, false},
		{"rejected", (*ledgertest.TokenWorld).Reject, true},
		{"expired", (*ledgertest.TokenWorld).Expire, true},
	} {
		for _, catchUp := range []bool{false, true} {
			name := tc.name
			if catchUp {
				name += "/catch-up"
			}
			t.Run(name, func(t *testing.T) {
				var hooked []withdrawal.Status
				hook := withdrawal.RecoveryFunc(func(ctx context.Context, tx *sqlx.Tx, o *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
					hooked = append(hooked, o.Status)
					w, _ := withdrawal.RecoverFromLedger(ctx, tx, o)
					w.UserAccount = o.Meta["exchange/account"]
					w.ReservedFunds = o.Transferred.Add(dec("1"))
					_, err := tx.ExecContext(ctx, `INSERT INTO public.debit VALUES ($1, $2, $3)`, o.ID, w.UserAccount, w.ReservedFunds.String())
					return w, err
				})
				r := newRestorable(t, withdrawal.ReconcilerConfig{Recovery: hook})
				r.catchUp = catchUp
				_, err := r.db.Exec(`CREATE TABLE public.debit (withdrawal_id text PRIMARY KEY, account text, amount numeric)`)
				require.NoError(t, err)
				r.dump()
				holding := r.world.Holdings(treasury)[1].ContractID
				req := r.request("wd-2", "30", holding)
				r.create(req)
				_, err = r.store.MarkSubmitted(r.ctx, "wd-2")
				require.NoError(t, err)
				offer, icid := r.world.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30",
					InputHoldings: []string{holding}, Reason: "wd-2", Fee: "0.5", Meta: map[string]string{"exchange/account": "user-wd-2"}})
				r.apply(offer)
				r.apply(tc.outcome(r.world, icid))
				hooked = nil
				r.restore()

				w := r.get("wd-2")
				require.True(t, w.Recovered)
				require.Equal(t, "user-wd-2", w.UserAccount)
				require.Equal(t, []withdrawal.Status{withdrawal.StatusPendingAcceptance}, hooked, "the hook is called once, for the offer")
				var debits []string
				require.NoError(t, r.db.Select(&debits, `SELECT withdrawal_id || ' ' || account || ' ' || amount FROM public.debit`))
				require.Equal(t, []string{"wd-2 user-wd-2 31"}, debits)
				got := refunds(t, r.db)
				if tc.refund {
					require.Equal(t, "31", got["wd-2"], "the user debited again by the hook is credited back")
				} else {
					require.NotContains(t, got, "wd-2")
				}
				r.requireBooks()
			})
		}
	}
}
