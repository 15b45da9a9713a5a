package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Refunder error stops ingestion; the operator has to find the
// transaction: the error must name the withdrawal, the update id and the
// offset, on the batch path as on the one-at-a-time path.
func TestRefundErrorNamesTheTransaction(t *testing.T) {
	boom := errors.New("user account frozen")
	failing := withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
		if w.Status == withdrawal.StatusRejected {
			return boom
		}
		return nil
	})
	e := newEnv(t, withdrawal.Config{Refunder: failing}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	offerTx, icid := e.offer(w, "0.5")
	e.apply(offerTx)
	reject := e.world.Reject(icid)
	err := e.run(e.batch(time.Time{}, reject))
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, `"wd-1"`)
	require.ErrorContains(t, err, reject.UpdateID, "the update id")
	require.ErrorContains(t, err, fmt.Sprintf("offset %d", reject.Offset), "the offset")
}
