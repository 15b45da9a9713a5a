package withdrawal_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRestoreHoldsStoresThatDidNotSeeStepOne is TestRV166GateWindowDuringTheRestore
// without the services' reads of the gate after step 1: an API server's
// Store and the Automation's last read the gate open, before the
// procedure. A Create and an Automation round sent during pg_restore must
// still be refused and paused, not go through on the restored database
// (whose gate is the backup's, open, until step 2 closes it), and wd-1,
// requested in the backup and handed to the Submitter after it, must not
// be handed over again.
func TestRestoreHoldsStoresThatDidNotSeeStepOne(t *testing.T) { gateWindowDuringTheRestore(t, false) }

// A Store on a pool of one connection: the restore lock would take the
// procedure's only connection, so the procedure goes without it, warns,
// and runs to the end as before; a Create during the restore then reads
// the restored gate (here, open) and is not held back by the lock.
func TestRestoreProcedureOnAPoolOfOne(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	e.db.SetMaxOpenConns(1)
	var logs strings.Builder
	var created error
	p := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: time.Now(), PollInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Restore: func(ctx context.Context) error {
			_, err := e.db.ExecContext(ctx, `UPDATE txhistory.withdrawal_gate SET enabled = true, reason = 'from the backup', changed_at = changed_at - interval '1 hour'`)
			if err == nil {
				_, created = e.store.Create(ctx, e.request("wd-1", "5", cids[0]))
			}
			return err
		},
		Progress: e.passTSafe,
	}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	rep, err := p.Run(ctx)
	require.NoError(t, err)
	require.True(t, rep.RestoredGateOpen)
	require.Contains(t, logs.String(), "the restore lock is not held")
	// The Store saw step 1 close the gate: the restored one, older, is
	// rewound for it, and the Create refused all the same.
	require.ErrorIs(t, created, withdrawal.ErrWithdrawalsDisabled)
	require.NotContains(t, created.Error(), "restoring the database")
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.True(t, g.Open(), "step 4 opened the gate")
}
