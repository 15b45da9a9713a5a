package withdrawal_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// The exchange's RecoveryHook returns a withdrawal PostgreSQL refuses to
// store (here a user account holding a NUL byte, which no text column
// takes). Ingestion stops; the error the operator reads must name the
// withdrawal, as the hook's own error does, not only the offsets.
func TestRecoveredWithdrawalRefusedNamesTheWithdrawal(t *testing.T) {
	hook := withdrawal.RecoveryFunc(func(ctx context.Context, tx *sqlx.Tx, o *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
		w, err := withdrawal.RecoverFromLedger(ctx, tx, o)
		if w != nil {
			w.UserAccount = "acct\x00" + o.ID
		}
		return w, err
	})
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{Recovery: hook})
	holdings := l.mintAndCatchUp("100")
	lost := l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30",
		InputHoldings: holdings, Reason: "wd-lost"}))[0]
	err := l.settle()
	require.Error(t, err)
	require.ErrorContains(t, err, lost.UpdateID)
	require.ErrorContains(t, err, "0x00", "not PostgreSQL's refusal")
	require.ErrorContains(t, err, `"wd-lost"`, "the error of a recovered withdrawal PostgreSQL refused does not name the withdrawal")
}
