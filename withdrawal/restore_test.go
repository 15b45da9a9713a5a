package withdrawal_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRestoreProcedure runs the procedure with a stand-in restore (the
// restore drill does it with pg_dump and pg_restore): the gate closes, the
// restored open gate is closed again, tSafe is estimated and raised to the
// latest restored trecTgt, and the gate opens only once the ingested record
// time is past tSafe.
func TestRestoreProcedure(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10", "10")
	e.create(e.request("wd-1", "5", cids[0]))
	late := e.request("wd-late", "5", cids[1])
	late.TrecTgt = e.world.Now().Add(2 * ttl) // a longer ttl than the procedure assumes
	e.create(late)
	ledgerNow := e.world.Now()

	var steps []withdrawal.RestoreStep
	var waits int
	p := withdrawal.RestoreProcedure{
		Store:        e.store,
		TTL:          ttl,
		Now:          func() time.Time { return ledgerNow },
		PollInterval: time.Millisecond,
		Logger:       quietLog,
		Restore: func(ctx context.Context) error {
			// What a restore brings back: the gate as it was at backup time.
			_, err := e.db.ExecContext(ctx, `UPDATE txhistory.withdrawal_gate SET enabled = true, reason = 'from the backup'`)
			return err
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if len(steps) == 0 || steps[len(steps)-1] != pr.Step {
				steps = append(steps, pr.Step)
			}
			if pr.Step != withdrawal.StepWait || pr.Done || pr.Waited == 0 {
				return
			}
			waits++
			require.False(t, pr.Ingested.After(pr.TSafe))
			g, err := e.store.Gate(e.ctx)
			require.NoError(t, err)
			require.False(t, g.Enabled, "the gate is closed while waiting")
			_, err = e.store.Create(e.ctx, e.request("wd-new", "5", cids[2]))
			require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled)
			e.tick(e.times[e.world.SynchronizerID].Add(ttl / 4)) // ingestion moves on
		},
	}
	rep, err := p.Run(e.ctx)
	require.NoError(t, err)
	require.Equal(t, []withdrawal.RestoreStep{withdrawal.StepDisable, withdrawal.StepRestore, withdrawal.StepWait, withdrawal.StepEnable}, steps)
	require.True(t, rep.Estimated)
	require.True(t, rep.RestoredGateOpen)
	require.Equal(t, 2, rep.InFlight)
	require.Equal(t, late.TrecTgt, rep.LatestTrecTgt)
	require.Equal(t, late.TrecTgt, rep.TSafe, "raised from now + ttl to the latest restored trecTgt")
	require.True(t, rep.Ingested.After(rep.TSafe))
	require.GreaterOrEqual(t, waits, 8)
	require.False(t, rep.EnabledAt.Before(rep.DisabledAt))

	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.True(t, g.Enabled)
	log, err := e.store.GateLog(e.ctx)
	require.NoError(t, err)
	require.Len(t, log, 3) // closed, closed again after the restore, opened
	require.False(t, log[0].Enabled)
	require.False(t, log[1].Enabled)
	open := log[2]
	require.True(t, open.Enabled)
	require.Equal(t, rep.TSafe, open.TSafe)
	require.True(t, open.IngestedRecordTime.After(open.TSafe), "opened after tSafe: %s, tSafe %s", open.IngestedRecordTime, open.TSafe)
	// Both in-flight withdrawals lapsed on the way.
	require.Equal(t, withdrawal.StatusExpired, e.get("wd-1").Status)
	require.Equal(t, withdrawal.StatusExpired, e.get("wd-late").Status)
	e.create(e.request("wd-new", "5", cids[2]))

	// Step 2 moved the history's Seq past any value handed out before the
	// restore (tokenstd.RenumberAfterRestore): into this second's range.
	var seq int64
	require.NoError(t, e.db.GetContext(e.ctx, &seq, `SELECT last_value FROM txhistory.token_history_id_seq`))
	require.GreaterOrEqual(t, seq, (time.Now().Unix()-60-1_700_000_000)<<20)
}

func TestRestoreProcedureStops(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.mint("10")
	_, err := withdrawal.RestoreProcedure{Store: e.store}.Run(e.ctx)
	require.ErrorContains(t, err, "TTL")

	// Ingestion does not move: the procedure waits until its context ends,
	// the gate stays closed. The context ends once step 3 has waited a
	// while, not at a fixed deadline, which steps 1 and 2 outlast under
	// -race on a busy machine.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var waiting sync.Once
	_, err = withdrawal.RestoreProcedure{Store: e.store, TSafe: e.world.Now().Add(time.Hour), PollInterval: 5 * time.Millisecond,
		Logger: quietLog, Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait {
				waiting.Do(func() { time.AfterFunc(100*time.Millisecond, cancel) })
			}
		}}.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "step 3")
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.False(t, g.Enabled)
}
