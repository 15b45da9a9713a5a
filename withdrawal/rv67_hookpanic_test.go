package withdrawal_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// The exchange's RecoveryHook panics on the transfer of a withdrawal lost
// in an Integration DB restore (a metadata key it expects is missing, say).
// Ingestion stops, and the restore procedure waits for it: the error the
// operator reads must name the withdrawal and its update, as a hook's
// error does, not only the batch's offsets.
func TestRecoveryHookPanicNamesTheWithdrawal(t *testing.T) {
	hook := withdrawal.RecoveryFunc(func(ctx context.Context, tx *sqlx.Tx, o *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
		var account map[string]string // never filled in: a bug of the exchange's
		account[o.ID] = o.Meta["exchange/account"]
		return withdrawal.RecoverFromLedger(ctx, tx, o)
	})
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{Recovery: hook})
	holdings := l.mintAndCatchUp("100")
	lost := l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30",
		InputHoldings: holdings, Reason: "wd-lost"}))[0]
	err := l.settle()
	require.ErrorIs(t, err, ingest.ErrHandlerPanicked)
	require.ErrorContains(t, err, "assignment to entry in nil map")
	require.ErrorContains(t, err, `"wd-lost"`, "the error of a panicking RecoveryHook does not name the withdrawal")
	require.ErrorContains(t, err, lost.UpdateID)
}
