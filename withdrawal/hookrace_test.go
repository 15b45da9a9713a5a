package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// The RecoveryHook may write with tx ("for instance to debit the user
// again") for a withdrawal the Integration DB does not know. When a Create
// of the same id commits while the batch is between the hook's call and
// the INSERT of what it returned, the Reconciler applies the transfer to
// the created withdrawal instead ("created concurrently: apply to it"), but
// the hook's writes stay in the batch's transaction: the user is debited by
// the exchange's Create and again by the hook, for a withdrawal that was not
// recovered.
func TestRecoveryHookWritesUndoneWhenCreateWins(t *testing.T) {
	t.Run("a transfer", func(t *testing.T) { hookRace(t, false) })
	// An offer and its acceptance in one batch take the path of one outcome
	// at a time.
	t.Run("an offer and its acceptance", func(t *testing.T) { hookRace(t, true) })
}

func hookRace(t *testing.T, offer bool) {
	hook := withdrawal.RecoveryFunc(func(ctx context.Context, tx *sqlx.Tx, o *withdrawal.Outcome) (*withdrawal.Withdrawal, error) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO public.debit VALUES ($1)`, o.ID); err != nil {
			return nil, err
		}
		return withdrawal.RecoverFromLedger(ctx, tx, o)
	})
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{Recovery: hook})
	_, err := e.db.ExecContext(e.ctx, `CREATE TABLE public.debit (withdrawal_id text PRIMARY KEY)`)
	require.NoError(t, err)
	cids := e.mint("100", "100")

	// The exchange's Create of wd-1 is in flight (not committed) ...
	ctx := e.ctx
	ctx1, cancel := context.WithCancel(ctx)
	defer cancel()
	create, err := e.db.BeginTxx(ctx1, nil)
	require.NoError(t, err)
	defer func() { _ = create.Rollback() }()
	_, err = e.store.CreateTx(ctx, create, e.request("wd-1", "10", cids[0]))
	require.NoError(t, err)

	// ... while ingestion reconciles a transfer carrying its id.
	spec := ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "10", InputHoldings: cids[1:2], Reason: "wd-1"}
	var b *ingest.Batch
	if offer {
		tx, icid := e.world.Offer(spec)
		b = e.batch(time.Time{}, tx, e.world.Accept(icid))
	} else {
		b = e.batch(time.Time{}, e.world.Transfer(spec))
	}
	done := make(chan error, 1)
	go func() {
		tx, err := e.db.BeginTxx(ctx, nil)
		if err != nil {
			done <- err
			return
		}
		if err := e.handler.HandleBatch(ctx, tx, b); err != nil {
			_ = tx.Rollback()
			done <- err
			return
		}
		done <- tx.Commit()
	}()
	require.True(t, lockWaiter(t, ctx, e.db, "%INSERT INTO%withdrawal%", 10*time.Second),
		"the batch did not wait for the Create's withdrawal row")
	require.NoError(t, create.Commit())
	require.NoError(t, <-done)

	w := e.get("wd-1")
	require.False(t, w.Recovered, "Create won: the withdrawal is the exchange's")
	require.Equal(t, withdrawal.StatusCompleted, w.Status)
	var debits []string
	require.NoError(t, e.db.SelectContext(ctx, &debits, `SELECT withdrawal_id FROM public.debit`))
	require.Empty(t, debits, "the RecoveryHook's writes for a withdrawal it did not recover were committed: the user pays twice")
}
