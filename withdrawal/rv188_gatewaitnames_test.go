package withdrawal_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestRV188GateWaitFailureNamesTheWithdrawal: two instances of the
// exchange's withdrawal service on one Integration DB, the second's pool
// under a DBA's lock_timeout. The first instance has a create in flight;
// an operator's Disable waits for it, and the second instance's Create and
// Automation submission queue behind the Disable for the gate until their
// lock_timeout ends the wait. Their errors named no withdrawal
// ("withdrawal: reading the withdrawal gate: pq: canceling statement due
// to lock timeout"): the API server's log and the Automation's "round
// failed" line could not tell which request failed.
func TestRV188GateWaitFailureNamesTheWithdrawal(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10", "10")
	e.tick(e.world.Now())
	e.create(e.request("wd-queued", "5", cids[2])) // for the second instance's Automation

	var dbName string
	require.NoError(t, e.db.GetContext(e.ctx, &dbName, `SELECT current_database()`))
	db2, err := sqlx.Open("postgres", pgtest.SharedServer(t).DSN(dbName)+"&options="+url.QueryEscape("-c lock_timeout=300ms"))
	require.NoError(t, err)
	defer db2.Close()
	store2, err := withdrawal.NewStore(db2, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	auto2, err := withdrawal.NewAutomation(store2, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { return nil })})
	require.NoError(t, err)

	// The first instance's create in flight, holding the gate in share mode.
	tx, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = e.store.CreateTx(e.ctx, tx, e.request("wd-first", "5", cids[0]))
	require.NoError(t, err)
	disabled := make(chan error, 1)
	go func() { disabled <- e.store.Disable(e.ctx, "incident") }()
	require.True(t, lockWaiter(t, e.ctx, e.db, "LOCK TABLE%withdrawal_gate%", 10*time.Second), "Disable does not wait for the create in flight")

	_, cerr := store2.Create(e.ctx, e.request("wd-second", "5", cids[1]))
	_, rerr := auto2.RunOnce(e.ctx)
	require.NoError(t, tx.Commit())
	require.NoError(t, <-disabled)

	require.Error(t, cerr, "the second instance's Create waited past its lock_timeout")
	require.Contains(t, cerr.Error(), `"wd-second"`, "a failed Create names its request")
	require.Error(t, rerr, "the second instance's submission waited past its lock_timeout")
	require.Contains(t, rerr.Error(), `"wd-queued"`, "a failed submission names its withdrawal")
}
