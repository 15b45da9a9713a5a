package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStep2FailureAfterRestoreClosesTheRestoredGate: the operator's
// Restore completes (pg_restore done, ingestion started again) and the
// operator's interrupt (ctx) arrives just then, so step 2's first
// statement fails before it has closed the restored gate, the backup's
// (open). The gate is closed all the same: a withdrawal service
// (re)started meanwhile must not see withdrawals enabled before tSafe.
func TestStep2FailureAfterRestoreClosesTheRestoredGate(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	e.create(e.request("wd-1", "5", cids[0])) // in flight at backup time

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	_, err := withdrawal.RestoreProcedure{
		Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(rctx context.Context) error {
			// pg_restore: the gate of backup time, open, changed before step 1.
			_, err := e.db.ExecContext(rctx, `UPDATE txhistory.withdrawal_gate
				SET enabled = true, reason = 'from the backup', changed_at = now() - interval '1 hour'`)
			require.NoError(t, err)
			cancel() // Ctrl-C as the restore finishes; starting ingestion returned nil
			return nil
		},
	}.Run(ctx)
	require.ErrorContains(t, err, "step 2")

	// A withdrawal service (re)started after the failure: its own Store.
	service, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	g, err := service.Gate(e.ctx)
	require.NoError(t, err)
	assert.False(t, g.Open(), "step 2 failed after the restore and left the restored (backup's) gate open: %+v", g)
	_, err = service.Create(e.ctx, e.request("wd-2", "5", cids[1]))
	assert.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled, "a withdrawal was created before tSafe")
}

// TestRestoredBeforeTheProcedureReportsItsOpenGate: with the database
// restored before the procedure (Restore nil), step 1 closes the backup's
// gate; the report says it was open all the same.
func TestRestoredBeforeTheProcedureReportsItsOpenGate(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.mint("10") // something ingested, after tSafe
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.True(t, g.Enabled, "the backup's gate, open")
	rep, err := withdrawal.RestoreProcedure{Store: e.store, TSafe: time.Unix(1, 0), PollInterval: time.Millisecond, Logger: quietLog}.Run(e.ctx)
	require.NoError(t, err)
	require.True(t, rep.RestoredGateOpen)

	// A database restored with its gate closed: not reported open.
	require.NoError(t, e.store.Disable(e.ctx, "closed at backup time"))
	rep, err = withdrawal.RestoreProcedure{Store: e.store, TSafe: time.Unix(1, 0), PollInterval: time.Millisecond, Logger: quietLog}.Run(e.ctx)
	require.NoError(t, err)
	require.False(t, rep.RestoredGateOpen)
}
