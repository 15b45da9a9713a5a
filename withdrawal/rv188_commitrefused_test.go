package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestRV188ARefundRefusedAtCommitDoesNotStopTheOthers: as
// TestARefundRefusedForOneWithdrawalDoesNotStopTheOthers, but the
// exchange's Refunder writes its credit into a table whose constraint is
// checked at COMMIT (DEFERRABLE INITIALLY DEFERRED, as a double-entry
// ledger's balance check often is), and the credit of wd-1 violates it
// every time. The Refunder returns nil; the Automation's mark of wd-1
// failed does not commit. The refused attempt was cleared before the
// mark, so wd-1 stays requested, oldest and not retried: every round
// found it first again and returned the COMMIT's error before wd-2, which
// was never submitted and would expire, for one withdrawal the exchange's
// books refuse.
func TestRV188ARefundRefusedAtCommitDoesNotStopTheOthers(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	_, err := e.db.ExecContext(e.ctx, `CREATE TABLE public.account (name text PRIMARY KEY);
		INSERT INTO public.account VALUES ('user-wd-2');
		CREATE TABLE public.credit (account text REFERENCES public.account (name) DEFERRABLE INITIALLY DEFERRED,
			amount numeric NOT NULL)`)
	require.NoError(t, err)
	credit := withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO public.credit VALUES ($1, $2)`, w.UserAccount, w.ReservedFunds.String())
		return err
	})
	store, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: treasury, Refunder: credit, Logger: quietLog})
	require.NoError(t, err)
	cids := e.mint("10", "10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.create(e.request("wd-2", "5", cids[1]))
	e.tick(e.world.Now())

	sub := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		if w.ID == "wd-1" {
			return fmt.Errorf("receiver %s: %w", w.Receiver, withdrawal.ErrNoPreapproval)
		}
		return nil
	})
	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Submitter: sub, Logger: quietLog})
	require.NoError(t, err)
	var errs []error
	for range 4 {
		if _, err := auto.RunOnce(e.ctx); err != nil {
			errs = append(errs, err)
		}
	}
	require.NotEmpty(t, errs, "wd-1's mark never commits")
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-2").Status,
		"wd-2 never submitted: every round stopped at wd-1's mark, refused at COMMIT (%d of 4 rounds failed: %v)", len(errs), errors.Join(errs...))
}
