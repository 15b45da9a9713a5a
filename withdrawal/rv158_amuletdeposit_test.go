package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A deposit offered to the treasury in Amulet's shape: the sender's lock
// burns its fee (0.1) and locks 30 + a reserve of 2; the treasury's
// acceptance burns 0.4 of the reserve and returns 1.6 to the sender. The
// sender pays both fees: the treasury's history credits it the 30 it
// received, never the sender's reserve, and its holdings agree; rejected,
// it credits nothing.
func TestDepositOfferWithReserve(t *testing.T) {
	for _, tc := range []struct {
		name   string
		accept bool
		credit string
	}{{"accepted", true, "30"}, {"rejected", false, "0"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			e.mint("100")
			mint := e.world.MintOp(external, "100")
			e.apply(e.world.Tx(mint))
			before, err := tokenstd.Balances(e.ctx, e.db, schema.DefaultName)
			require.NoError(t, err)
			op := e.world.OfferOp(ledgertest.TransferSpec{Sender: external, Receiver: treasury, Amount: "30",
				InputHoldings: []string{mint.Created[0].ContractID}, Reason: "user-7", Fee: "2"})
			offer, icid := e.world.Tx(op), op.InstructionCID
			lockFee(t, offer, op.Created[1].ContractID, "0.1")
			e.apply(offer)
			var outcome *ledger.Transaction
			if tc.accept {
				outcome = e.world.Accept(icid)
				reserveChange(t, outcome, external, "1.6", "0.4")
			} else {
				outcome = e.world.Reject(icid)
			}
			e.apply(outcome)

			var rows []struct {
				Kind   string `db:"kind"`
				Amount string `db:"amount"`
				Fee    string `db:"fee"`
				Trans  string `db:"transferred"`
			}
			require.NoError(t, e.db.Select(&rows, `SELECT kind, trim_scale(amount)::text AS amount, trim_scale(fee)::text AS fee,
				trim_scale(transferred)::text AS transferred FROM txhistory.token_history WHERE update_id IN ($1, $2) ORDER BY id`,
				offer.UpdateID, outcome.UpdateID))
			require.Len(t, rows, 2, "%+v", rows)
			require.Equal(t, string(tokenstd.KindOfferIn), rows[0].Kind)
			end := string(tokenstd.KindRejected)
			if tc.accept {
				end = string(tokenstd.KindDeposit)
			}
			require.Equal(t, end, rows[1].Kind)
			for _, r := range rows {
				require.Equal(t, "0", r.Fee, "the sender pays the fees: %+v", rows)
				require.Equal(t, "30", r.Trans, "%+v", rows)
			}
			require.Equal(t, tc.credit, rows[1].Amount, "%+v", rows)
			var sum string
			require.NoError(t, e.db.Get(&sum, `SELECT COALESCE(trim_scale(sum(amount)), 0)::text FROM txhistory.token_history h
				WHERE h.update_id IN ($1, $2)`, offer.UpdateID, outcome.UpdateID))
			require.Equal(t, tc.credit, sum, "the history's entries of the deposit")
			after, err := tokenstd.Balances(e.ctx, e.db, schema.DefaultName)
			require.NoError(t, err)
			for inst, b := range after {
				requireDec(t, tc.credit, b.Sub(before[inst]), "the treasury's holdings of ", inst)
			}
		})
	}
}
