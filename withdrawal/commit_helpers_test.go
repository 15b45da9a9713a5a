package withdrawal_test

import (
	"context"
	"fmt"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// deferredCreditStore makes the exchange's books a table of credits whose
// account must exist by COMMIT (a foreign key DEFERRABLE INITIALLY
// DEFERRED, as a double-entry ledger's balance check often is), the
// accounts given existing, and returns a Store of e's database whose
// Refunder writes its credit there: a refund to any other account fails
// its transaction's COMMIT.
func (e *env) deferredCreditStore(accounts ...string) *withdrawal.Store {
	e.t.Helper()
	_, err := e.db.ExecContext(e.ctx, `CREATE TABLE public.account (name text PRIMARY KEY)`)
	require.NoError(e.t, err)
	for _, a := range accounts {
		_, err := e.db.ExecContext(e.ctx, `INSERT INTO public.account VALUES ($1)`, a)
		require.NoError(e.t, err)
	}
	_, err = e.db.ExecContext(e.ctx, `CREATE TABLE public.credit (account text REFERENCES public.account (name) DEFERRABLE INITIALLY DEFERRED,
		amount numeric NOT NULL)`)
	require.NoError(e.t, err)
	credit := withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO public.credit VALUES ($1, $2)`, w.UserAccount, w.ReservedFunds.String())
		return err
	})
	store, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: treasury, Refunder: credit, Logger: quietLog})
	require.NoError(e.t, err)
	return store
}

// requestTwo requests wd-1 and then wd-2, 5 each, reserving a holding of
// 10 apiece, and ticks the record time to the world's clock.
func (e *env) requestTwo() {
	e.t.Helper()
	cids := e.mint("10", "10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.create(e.request("wd-2", "5", cids[1]))
	e.tick(e.world.Now())
}

// noPreapprovalFor is a Submitter that refuses the withdrawal id (its
// receiver has no transfer pre-approval) and accepts the others.
func noPreapprovalFor(id string) withdrawal.SubmitFunc {
	return func(ctx context.Context, w *withdrawal.Withdrawal) error {
		if w.ID == id {
			return fmt.Errorf("receiver %s: %w", w.Receiver, withdrawal.ErrNoPreapproval)
		}
		return nil
	}
}

// runRounds runs n rounds of auto and returns the errors of those that
// failed.
func (e *env) runRounds(auto *withdrawal.Automation, n int) []error {
	var errs []error
	for range n {
		if _, err := auto.RunOnce(e.ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
