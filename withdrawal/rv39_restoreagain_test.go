package withdrawal_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// The Integration DB is restored a second time while the procedure waits
// for tSafe (the first restore took the wrong backup, or the database was
// lost again): the database, and its gate, are the backup's once more,
// open as at backup time. The procedure must close the gate again and go
// on waiting: a withdrawal service (re)started meanwhile, its own Store,
// must not take the backup's gate for an opening while requests lost in
// the restore may have their transfers in flight.
func TestRestoredAgainWhileWaitingForTSafe(t *testing.T) {
	pgDump, pgRestore, e, dsn, holdings := dumpableEnv(t) // wd-1 in flight at backup time
	ctx := e.ctx

	restore := backUp(t, e, pgDump, pgRestore, dsn)

	// The exchange's withdrawal service, restarted after the second restore.
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	var service *withdrawal.Store

	waits, restoredAgain, created := 0, false, 0
	rep, err := withdrawal.RestoreProcedure{
		Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error { restore(ctx); return nil },
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done || pr.Waited == 0 {
				return
			}
			waits++
			switch {
			case waits == 2:
				restore(ctx) // the second restore
				restoredAgain = true
				service, err = withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
				require.NoError(t, err)
			case restoredAgain:
				if _, err := service.Create(ctx, e.request("wd-again", "10", holdings[1])); err == nil {
					created++
				} else {
					require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled)
				}
			}
			if waits > 3 {
				e.tick(e.times[e.world.SynchronizerID].Add(ttl / 4)) // ingestion moves on
			}
		},
	}.Run(ctx)
	t.Logf("procedure: %v", err)
	require.True(t, restoredAgain)
	require.Zero(t, created, "a withdrawal was created after the second restore, before the ingested record time passed tSafe (the backup's gate, open, was taken for an opening)")
	require.NoError(t, err, "the procedure did not go on after the second restore")
	require.True(t, rep.Ingested.After(rep.TSafe))
	require.Equal(t, withdrawal.StatusExpired, e.get("wd-1").Status, "restored twice, wd-1 lapsed")
	g, err := e.store.Gate(ctx)
	require.NoError(t, err)
	require.True(t, g.Open())
}

// The second restore comes between the end of step 3 and the opening of
// step 4: the opening must not go ahead over the backup's gate, nor fail
// leaving it open; the procedure closes it again and opens it once the
// ingested record time is past tSafe again.
func TestRestoredAgainBeforeTheOpening(t *testing.T) {
	pgDump, pgRestore, e, dsn, _ := dumpableEnv(t) // wd-1 in flight at backup time
	ctx := e.ctx

	restore := backUp(t, e, pgDump, pgRestore, dsn)
	tSafe := e.world.Now().Add(ttl)
	restoredAgain := false
	rep, err := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: tSafe, PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error { restore(ctx); return nil },
		Progress: func(pr withdrawal.RestoreProgress) {
			switch {
			case pr.Step == withdrawal.StepWait && !pr.Done && pr.Waited > 0:
				e.tick(tSafe.Add(time.Second))
			case pr.Step == withdrawal.StepEnable && !pr.Done && !restoredAgain:
				restore(ctx) // after step 3 saw tSafe passed, before the opening
				restoredAgain = true
				e.tick(tSafe.Add(2 * time.Second)) // ingestion catches up again
			}
		},
	}.Run(ctx)
	require.True(t, restoredAgain)
	require.NoError(t, err)
	require.True(t, rep.Ingested.After(tSafe))
	log, err := e.store.GateLog(ctx)
	require.NoError(t, err)
	last := log[len(log)-1]
	require.True(t, last.Enabled)
	require.True(t, last.IngestedRecordTime.After(tSafe))
	closed := log[len(log)-2]
	require.False(t, closed.Enabled, "the backup's gate closed again before the opening: %+v", log)
	require.Contains(t, closed.Reason, "restored again")
}

// warnCounter is a slog handler that counts the warnings logged.
type warnCounter struct{ n *atomic.Int64 }

func (h warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}
func (h warnCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warnCounter) WithGroup(string) slog.Handler      { return h }

// Restored again just before the opening, with ingestion stopped for it
// (as it is for a restore): step 4 waits for tSafe again as step 3 does,
// reporting its progress and, once the ingested record time has stood
// still for StillAfter, asking whether ingestion is running; not with a
// warning in the log at every poll and no progress at all.
func TestRestoredAgainBeforeTheOpeningWaitsAsStep3(t *testing.T) {
	pgDump, pgRestore, e, dsn, _ := dumpableEnv(t) // wd-1 in flight at backup time
	restore := backUp(t, e, pgDump, pgRestore, dsn)
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	tSafe := e.world.Now().Add(ttl)
	var warnings atomic.Int64
	restoredAgain := false
	var again []withdrawal.RestoreProgress // progress after the second restore
	var warnedAt int64
	_, err := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: tSafe, PollInterval: 5 * time.Millisecond, ReportInterval: time.Hour, StillAfter: 300 * time.Millisecond,
		Logger:  slog.New(warnCounter{&warnings}),
		Restore: func(ctx context.Context) error { restore(ctx); return nil },
		Progress: func(pr withdrawal.RestoreProgress) {
			switch {
			case pr.Step == withdrawal.StepWait && !pr.Done && pr.Waited > 0 && !restoredAgain:
				e.tick(tSafe.Add(time.Second))
			case pr.Step == withdrawal.StepEnable && !pr.Done && !restoredAgain:
				restore(ctx) // after step 3 saw tSafe passed, before the opening; ingestion stays stopped
				restoredAgain = true
				warnedAt = warnings.Load()
			case restoredAgain:
				again = append(again, pr)
				if strings.Contains(pr.Message, "is ingestion running?") {
					cancel()
				}
			}
		},
	}.Run(ctx)
	require.True(t, restoredAgain)
	require.ErrorIs(t, err, context.Canceled, "restored again before the opening, the procedure never asked whether ingestion is running (%d progress reports, %d warnings logged since)",
		len(again), warnings.Load()-warnedAt)
	require.Less(t, warnings.Load()-warnedAt, int64(10), "a warning logged at every poll while waiting again")
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.False(t, g.Open(), "the gate stays closed")
}
