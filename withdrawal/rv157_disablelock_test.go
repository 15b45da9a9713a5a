package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// Disable waits for the creates in flight (DisableTx's doc), however long
// they take; a DBA's lock_timeout or statement_timeout (300 ms here, on the
// database) shorter than a create's transaction made it fail instead. Worse, in the restore
// procedure: the closing of the restored gate (step 2), and its closing
// again after that failure, both gave up at the first lock timeout, and the
// backup's gate stayed open over the restored database.
func TestRV157DisableWaitsPastLockTimeout(t *testing.T) {
	for _, name := range []string{"lock_timeout", "statement_timeout"} {
		t.Run(name, func(t *testing.T) { testDisableWaitsPast(t, name) })
	}
}

func testDisableWaitsPast(t *testing.T, name string) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10", "10")
	_, err := e.db.ExecContext(e.ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET `+name+` = %L', current_database(), '300ms'); END $$`)
	require.NoError(t, err)
	e.db.SetMaxIdleConns(0) // new sessions take the setting
	e.db.SetMaxIdleConns(2)

	// holdCreate creates a withdrawal in a transaction that commits after
	// hold: a create in flight, holding the gate in share mode.
	holdCreate := func(id, holding string, hold time.Duration) chan error {
		done := make(chan error, 1)
		tx, err := e.db.BeginTxx(e.ctx, nil)
		require.NoError(t, err)
		_, err = e.store.CreateTx(e.ctx, tx, e.request(id, "5", holding))
		require.NoError(t, err)
		go func() {
			time.Sleep(hold)
			done <- tx.Commit()
		}()
		return done
	}

	created := holdCreate("wd-1", cids[0], time.Second)
	require.NoError(t, e.store.Disable(e.ctx, "brake"), "Disable did not wait for the create in flight")
	require.NoError(t, <-created)
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.False(t, g.Enabled)

	// DisableTx sets the caller's bound back for the rest of its
	// transaction.
	tx, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	require.NoError(t, e.store.DisableTx(e.ctx, tx, "brake"))
	var got string
	require.NoError(t, tx.GetContext(e.ctx, &got, `SELECT current_setting($1)`, name))
	require.Equal(t, "300ms", got)
	require.NoError(t, tx.Commit())

	// The restore procedure: the restored database's gate is open, and a
	// create is in flight on it when step 2 closes it. Not one of this
	// release's, which finds the procedure's restore lock taken and
	// refuses until step 2 has closed the gate: one of an older release
	// in a rolling deploy, say, which holds the gate row in share mode
	// alone.
	holdOlderCreate := func(hold time.Duration) chan error {
		done := make(chan error, 1)
		tx, err := e.db.BeginTxx(e.ctx, nil)
		require.NoError(t, err)
		_, err = tx.ExecContext(e.ctx, `SELECT enabled FROM txhistory.withdrawal_gate WHERE id = 1 FOR SHARE`)
		require.NoError(t, err)
		go func() {
			time.Sleep(hold)
			done <- tx.Commit()
		}()
		return done
	}
	_, err = e.store.Create(e.ctx, e.request("wd-3", "5", cids[2]))
	require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled, "the brake above is on")
	require.NoError(t, e.store.Enable(e.ctx, "test"))
	// This release's create in flight at step 1: the procedure's restore
	// lock waits for it past the timeout, as Disable does.
	stepOne := holdCreate("wd-3", cids[2], time.Second)
	var inFlight chan error
	p := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: time.Now(), PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			_, err := e.db.ExecContext(ctx, `UPDATE txhistory.withdrawal_gate SET enabled = true, reason = 'from the backup'`)
			if err == nil {
				_, cerr := e.store.Create(ctx, e.request("wd-2", "5", cids[1]))
				require.ErrorIs(t, cerr, withdrawal.ErrWithdrawalsDisabled, "a create during the restore")
				inFlight = holdOlderCreate(time.Second)
			}
			return err
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !pr.Done {
				e.tick(time.Now().Add(time.Hour))
			}
		},
	}
	_, err = p.Run(e.ctx)
	require.NoError(t, <-stepOne)
	require.NoError(t, <-inFlight)
	g, gerr := e.store.Gate(e.ctx)
	require.NoError(t, gerr)
	require.False(t, err != nil && g.Enabled, "the procedure failed (%v) and left the restored gate open", err)
	require.NoError(t, err)
}
