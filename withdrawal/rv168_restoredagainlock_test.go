package withdrawal_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The Integration DB is restored again while the procedure waits for tSafe
// (step 3), as in TestRestoredAgainWhileWaitingForTSafe, but with an API
// server's Store and the Automation's, which last read the gate open
// before step 1 (they did not see the procedure's closures, so the backup's
// gate is not rewound for them). Between the second restore and the
// procedure's next read of the gate (restoredAgain), a Create and an
// Automation round must be refused and paused, as during step 2's restore:
// not commit on the restored-again database, nor hand wd-1, requested in
// the backup and handed to the Submitter after it, over again.
func TestRV168RestoredAgainDuringStep3HoldsStoresThatReadTheOpenGate(t *testing.T) {
	pgDump, pgRestore, e, dsn, holdings := dumpableEnv(t) // wd-1 requested at backup time
	ctx := e.ctx
	restore := backUp(t, e, pgDump, pgRestore, dsn)

	api, auto, handed := apiAndCountingAutomation(t, e.db)
	// wd-1 is handed over (its transfer paid) after the backup; both
	// services read the gate open then, before the procedure.
	_, err := auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, handed["wd-1"])
	g, err := api.Gate(ctx)
	require.NoError(t, err)
	require.True(t, g.Open())

	waits, restoredAgain := 0, false
	var created error
	var round withdrawal.Round
	var roundErr error
	rep, err := withdrawal.RestoreProcedure{
		Store: e.store, TTL: ttl, Now: e.world.Now, PollInterval: time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error { restore(ctx); return nil },
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done || pr.Waited == 0 {
				return
			}
			waits++
			if waits == 2 {
				// The second restore, and, before the procedure reads the
				// gate again, a Create and a round of the services.
				restore(ctx)
				restoredAgain = true
				_, created = api.Create(ctx, e.request("wd-again", "10", holdings[1]))
				round, roundErr = auto.RunOnce(ctx)
			}
			if waits > 3 {
				e.tick(e.times[e.world.SynchronizerID].Add(ttl / 4)) // ingestion moves on
			}
		},
	}.Run(ctx)
	require.True(t, restoredAgain)
	t.Logf("Create after the second restore: %v; the Automation's round: %+v, %v; handed over: %v", created, round, roundErr, handed)
	require.ErrorIs(t, created, withdrawal.ErrWithdrawalsDisabled, "a Create committed on the database restored again during step 3, before the procedure closed its gate")
	require.NoError(t, roundErr)
	require.True(t, round.Paused, "the Automation's round on the database restored again during step 3")
	require.Equal(t, 1, handed["wd-1"], "wd-1, paid after the backup, handed to the Submitter again")
	require.NoError(t, err)
	require.True(t, rep.Ingested.After(rep.TSafe))
	// The lock is released with the opening: the services go on.
	_, err = api.Create(ctx, e.request("wd-after", "10", holdings[1]))
	require.NoError(t, err)
}

// The wait lock is held for the whole of step 3 (hours, perhaps): its
// transaction must hold nothing back meanwhile. Under a DBA's
// idle_in_transaction_session_timeout (300 ms, set on the database) it
// is still held after a second, off for its session only; its session has
// no backend_xmin nor backend_xid, and VACUUM removes the rows deleted
// during step 3 (and so truncates their table); the restore lock itself
// was released at step 2; and both are gone once Run returns.
func TestRV168WaitLockThroughStep3HoldsNothingBack(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	_, err := e.db.ExecContext(e.ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_in_transaction_session_timeout = %L', current_database(), '300ms'); END $$`)
	require.NoError(t, err)
	e.db.SetMaxIdleConns(0) // new sessions take the setting
	e.db.SetMaxIdleConns(2)
	_, err = e.db.ExecContext(e.ctx, `CREATE TABLE public.churn (id int)`)
	require.NoError(t, err)
	type lockRow struct {
		Class  int64          `db:"classid"`
		State  string         `db:"state"`
		Xmin   sql.NullString `db:"backend_xmin"`
		Xid    sql.NullString `db:"backend_xid"`
		Expiry string         `db:"expiry"`
	}
	locks := func() []lockRow {
		var rows []lockRow
		require.NoError(t, e.db.SelectContext(e.ctx, &rows, `SELECT l.classid::int8 AS classid, a.state, a.backend_xmin::text AS backend_xmin,
				a.backend_xid::text AS backend_xid, current_setting('idle_in_transaction_session_timeout') AS expiry
			FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.classid IN ($1, $2) AND l.mode = 'ExclusiveLock' AND l.granted AND l.database =
				(SELECT oid FROM pg_database WHERE datname = current_database())`, 0x74787273, 0x74787277))
		return rows
	}
	var during []lockRow
	var left int64 = -1
	start := time.Now()
	tSafe := time.Now()
	_, err = withdrawal.RestoreProcedure{
		Store: e.store, TSafe: tSafe, PollInterval: 20 * time.Millisecond, Logger: quietLog,
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done || during != nil || time.Since(start) < time.Second {
				return
			}
			during = locks()
			_, err := e.db.ExecContext(e.ctx, `INSERT INTO public.churn SELECT generate_series(1, 1000)`)
			require.NoError(t, err)
			_, err = e.db.ExecContext(e.ctx, `DELETE FROM public.churn`)
			require.NoError(t, err)
			_, err = e.db.ExecContext(e.ctx, `VACUUM public.churn`)
			require.NoError(t, err)
			// Every row deleted and removable: VACUUM truncates the table.
			require.NoError(t, e.db.GetContext(e.ctx, &left, `SELECT pg_relation_size('public.churn')`))
			e.tick(tSafe.Add(time.Second)) // ingestion passes tSafe
		},
	}.Run(e.ctx)
	require.NoError(t, err)
	require.Len(t, during, 1, "only the wait lock held in step 3 (the restore lock released at step 2): %+v", during)
	l := during[0]
	require.EqualValues(t, 0x74787277, l.Class)
	require.Equal(t, "idle in transaction", l.State)
	require.False(t, l.Xmin.Valid, "the wait lock's session holds backend_xmin %s in step 3", l.Xmin.String)
	require.False(t, l.Xid.Valid, "the wait lock's session holds backend_xid %s in step 3", l.Xid.String)
	require.Equal(t, "300ms", l.Expiry, "the other sessions keep the DBA's idle_in_transaction_session_timeout")
	require.Zero(t, left, "VACUUM left the rows deleted during step 3 behind (%d bytes)", left)
	require.Empty(t, locks(), "a lock left held after Run returned")
	_, err = e.store.Create(e.ctx, e.request("wd-after", "5", cids[0]))
	require.NoError(t, err)
}

// The wait lock holds one of the Store's pool's connections until Run
// returns. On a pool of three shared with an Ingester started again by
// Restore (its lock holds one; its batches, no longer overlapping, and the
// procedure's statements share the last), ingestion must still pass tSafe
// and the procedure open the gate.
func TestRV168WaitLockOnAPoolOfThreeWithIngestion(t *testing.T) {
	db := pgtest.NewDB(t)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	holdings := l.mintAndCatchUp("50")
	l.stopIngester()
	db.SetMaxOpenConns(3)
	tSafe := l.now
	advanced := false
	ctx, cancel := context.WithTimeout(l.ctx, 20*time.Second)
	defer cancel()
	rep, err := withdrawal.RestoreProcedure{
		Store: l.store, TSafe: tSafe, PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			l.startIngester()
			time.Sleep(200 * time.Millisecond) // its lock taken
			return nil
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !pr.Done && !advanced {
				advanced = true
				l.advance(time.Second) // the ledger's record time passes tSafe
			}
		},
	}.Run(ctx)
	require.NoError(t, err, "pool: %+v", db.Stats())
	require.True(t, rep.Ingested.After(tSafe))
	_, err = l.store.Create(l.ctx, l.request("wd-after", "10", holdings[0]))
	require.NoError(t, err)
}
