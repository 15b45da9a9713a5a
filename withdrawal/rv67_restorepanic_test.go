package withdrawal_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The operator's Restore step restores the database and then panics (a
// bug in the code that restarts ingestion, say): Run panics through, and
// the restored gate, the backup's, is left open. Run's doc promises that
// a failure of step 2 before the restored gate is closed closes it again:
// a withdrawal service (re)started meanwhile, its own Store, would create
// requests and submit restored ones whose transfers may be in flight.
func TestRestoreStepPanicClosesTheRestoredGate(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	e.create(e.request("wd-1", "5", cids[0])) // in flight at backup time

	var panicked any
	func() {
		defer func() { panicked = recover() }()
		_, _ = withdrawal.RestoreProcedure{
			Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: withdrawal.RestorePollDefault, Logger: quietLog,
			Restore: func(ctx context.Context) error {
				// What the restore brings back: the gate as at backup time.
				if _, err := e.db.ExecContext(ctx, `UPDATE txhistory.withdrawal_gate SET enabled = true, reason = 'from the backup', changed_at = changed_at - interval '1 hour'`); err != nil {
					return err
				}
				var restart func() // starting ingestion again: a nil func
				restart()
				return nil
			},
		}.Run(e.ctx)
	}()
	require.NotNil(t, panicked, "Run did not pass the Restore step's panic on")

	// A withdrawal service (re)started after the crash: its own Store.
	service, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	g, err := service.Gate(e.ctx)
	require.NoError(t, err)
	require.False(t, g.Open(), "the Restore step panicked after the restore and the restored gate, the backup's, was left open: %+v", g)
	_, err = service.Create(e.ctx, e.request("wd-2", "5", cids[1]))
	require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled)
}
