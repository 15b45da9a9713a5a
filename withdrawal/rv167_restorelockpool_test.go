package withdrawal_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A pool of two connections is enough for an Ingester (its lock holds one,
// its batches share the other) and, before the restore lock, for a
// RestoreProcedure on the same pool whose Restore starts ingestion again,
// as the runbook's restore step does: the procedure's statements shared the
// second connection with the batches. The restore lock must not take that
// connection for the whole restore: the procedure then waits for a
// connection until ctx ends, and ingestion with it.
func TestRV167RestoreLockOnAPoolOfTwoWithIngestion(t *testing.T) {
	db := pgtest.NewDB(t)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	l.mintAndCatchUp("50")
	l.stopIngester()
	db.SetMaxOpenConns(2)

	reached := make(chan struct{})
	var once bool
	p := withdrawal.RestoreProcedure{
		Store: l.store, TSafe: l.now, PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			// Restored already (nothing to restore here); ingestion starts
			// again on the same pool, as the runbook's restore step says.
			l.startIngester()
			time.Sleep(200 * time.Millisecond) // its lock taken
			return nil
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !once {
				once = true
				close(reached)
			}
		},
	}
	ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := p.Run(ctx); done <- err }()
	select {
	case <-reached:
	case err := <-done:
		t.Fatalf("the procedure ended before step 3: %v", err)
	case <-ctx.Done():
		t.Fatalf("the procedure did not reach step 3 within 10 s on a pool of two beside an Ingester (pool: %+v)", db.Stats())
	}
	cancel()
	<-done
}

// ctx ending during Restore (an operator's interrupt, a deadline) must not
// release the restore lock before the procedure has closed the gate again:
// a Restore that is still winding down (a restore tool that does not stop
// at once, a partial restore left behind) may have given the database the
// backup's gate, open, and a Store that did not see step 1 would create on
// it until closeAgain closes it.
func TestRV167RestoreLockHeldUntilTheGateIsClosedAgainAfterCtxEnds(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	api, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	g, err := api.Gate(e.ctx)
	require.NoError(t, err)
	require.True(t, g.Open(), "the API server's Store read the gate open before step 1")
	backup := g

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var created error
	p := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: time.Now(), PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Restore: func(context.Context) error {
			// The backup's gate, open, restored; then the operator
			// interrupts, and the restore takes a while to stop.
			_, err := e.db.ExecContext(e.ctx, `UPDATE txhistory.withdrawal_gate SET enabled = true, reason = 'from the backup', changed_at = $1`, backup.ChangedAt)
			require.NoError(t, err)
			cancel()
			time.Sleep(200 * time.Millisecond)
			_, created = api.Create(e.ctx, e.request("wd-1", "5", cids[0]))
			return context.Canceled
		},
	}
	_, err = p.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, created, withdrawal.ErrWithdrawalsDisabled, "a Create after ctx ended, before the procedure closed the gate again")
	g, err = e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.False(t, g.Enabled, "closed again")
}

// The restore lock's transaction sits idle for the whole restore (hours,
// perhaps): it must not hold a snapshot's xmin back from VACUUM meanwhile,
// as holdRestoreLock says. Its last statement, parameterised (the extended
// protocol), left the session's backend_xmin set until the next one.
func TestRV167RestoreLockHoldsNoXmin(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	var held []sql.NullString
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	_, _ = withdrawal.RestoreProcedure{Store: e.store, TSafe: time.Now(), Logger: quietLog, PollInterval: 10 * time.Millisecond,
		Restore: func(ctx context.Context) error {
			return e.db.SelectContext(ctx, &held, `SELECT a.backend_xmin::text FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
				WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.mode = 'ExclusiveLock' AND l.granted`, 0x74787273)
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait {
				cancel()
			}
		},
	}.Run(ctx)
	require.Len(t, held, 1, "the restore lock held during Restore")
	require.False(t, held[0].Valid, "the restore lock's session holds backend_xmin %s during the restore", held[0].String)
}

// A second RestoreProcedure on the schema while the first is between its
// step 1 and step 2 (a rerun "after a failure" of a run that is in fact
// still restoring, in a process the operator lost sight of) waits for the
// first's restore lock, hours perhaps: it must say so, not stand silent
// after "closing the withdrawal gate".
func TestRV167SecondProcedureSaysItWaitsForTheRestoreLock(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	inRestore, finish := make(chan struct{}), make(chan struct{})
	first := withdrawal.RestoreProcedure{Store: e.store, TSafe: time.Now(), Logger: quietLog, PollInterval: 10 * time.Millisecond,
		Restore: func(context.Context) error {
			close(inRestore)
			<-finish
			return errors.New("the first run's restore failed")
		},
	}
	firstDone := make(chan error, 1)
	go func() { _, err := first.Run(e.ctx); firstDone <- err }()
	<-inRestore

	var mu sync.Mutex
	var msgs []string
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	_, err := withdrawal.RestoreProcedure{Store: e.store, TSafe: time.Now(), Logger: quietLog, PollInterval: 10 * time.Millisecond,
		Progress: func(pr withdrawal.RestoreProgress) {
			mu.Lock()
			defer mu.Unlock()
			msgs = append(msgs, pr.Message)
		},
	}.Run(ctx)
	close(finish)
	require.Error(t, <-firstDone)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the second run waits for the first's restore lock")
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, strings.Join(msgs, "\n"), "another RestoreProcedure", "what the second run said: %q", msgs)
}
