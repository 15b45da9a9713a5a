package withdrawal_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// An exchange's RecoveryHook "re-creates the withdrawal request record"
// by writing the withdrawal row itself (with tx), then returns it. The
// Reconciler's insert of what it returned then meets that row, takes it
// for a Create that won the race, undoes the hook's writes (the row
// with them) and applies the transfer to a withdrawal that no longer
// exists: ingestion stops with "no such withdrawal", though the hook
// returned one, and nothing says the hook's own write is the cause.
func TestRecoveryHookWritingTheWithdrawalItselfIsNamed(t *testing.T) {
	hook := withdrawal.RecoveryFunc(func(ctx context.Context, tx *sqlx.Tx, o *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
		_, err := tx.ExecContext(ctx, `INSERT INTO txhistory.withdrawal (id, user_account, amount, instrument_admin, instrument_id,
				receiver, reserved_funds, status, recovered)
			VALUES ($1, 'user-17', $2, $3, $4, $5, 0, 'recovered', true)`, o.ID, o.Transferred.String(), o.Instrument.Admin, o.Instrument.ID, o.Receiver)
		if err != nil {
			return nil, err
		}
		return withdrawal.RecoverFromLedger(ctx, tx, o)
	})
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{Recovery: hook})
	cids := e.mint("100")
	err := e.run(e.batch(e.world.Now(), e.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30",
		InputHoldings: cids, Reason: "wd-lost"})))
	require.Error(t, err)
	require.ErrorContains(t, err, `"wd-lost"`)
	require.ErrorContains(t, err, "RecoveryHook", "the error does not say that the hook's own write of the withdrawal row is the cause")
	require.NotErrorIs(t, err, withdrawal.ErrNotFound, "the hook returned the withdrawal; the error says there is none")
}
