package withdrawal_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
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
func TestRestoreHoldsStoresThatDidNotSeeStepOne(t *testing.T) {
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	db := pgtest.NewDB(t)
	var name string
	require.NoError(t, db.Get(&name, `SELECT current_database()`))
	dsn := pgtest.SharedServer(t).DSN(name)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	ctx := l.ctx
	holdings := l.mintAndCatchUp("50", "50", "50")

	api, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	svc, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	var mu sync.Mutex
	handed := map[string]int{}
	auto, err := withdrawal.NewAutomation(svc, withdrawal.AutomationConfig{Submitter: withdrawal.SubmitFunc(
		func(_ context.Context, w *withdrawal.Withdrawal) error {
			mu.Lock()
			defer mu.Unlock()
			handed[w.ID]++
			return nil
		}), Logger: quietLog})
	require.NoError(t, err)

	// wd-1 is requested in the backup; the Automation hands it over (its
	// transfer paid) after the backup.
	_, err = api.Create(ctx, l.request("wd-1", "10", holdings[0]))
	require.NoError(t, err)
	backup := filepath.Join(t.TempDir(), "integration.dump")
	runTool(ctx, t, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn)
	_, err = auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, handed["wd-1"])
	// Both read the gate open, before step 1, and not again until pg_restore.
	g, err := api.Gate(ctx)
	require.NoError(t, err)
	require.True(t, g.Open())
	l.stopIngester()

	var created error
	var round withdrawal.Round
	var roundErr error
	proc := withdrawal.RestoreProcedure{
		Store: l.store, TTL: ttl, Now: func() time.Time { return l.now }, PollInterval: 5 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			// pg_restore holds the gate's table from its DROP to its
			// commit: a Create and a round sent meanwhile wait for it.
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(50 * time.Millisecond)
				var w sync.WaitGroup
				w.Add(2)
				go func() { defer w.Done(); _, created = api.Create(ctx, l.request("wd-2", "10", holdings[1])) }()
				go func() { defer w.Done(); round, roundErr = auto.RunOnce(ctx) }()
				w.Wait()
			}()
			runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, backup)
			wg.Wait()
			require.NoError(t, tokenstd.RenumberAfterRestore(ctx, db, "txhistory"))
			l.startIngester()
			return nil
		},
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// Only the restore matters here: the wait for tSafe is cut short.
	_, _ = proc.Run(pctx)
	t.Logf("Create during pg_restore: %v; the Automation's round: %+v, %v; handed over: %v", created, round, roundErr, handed)
	require.ErrorIs(t, created, withdrawal.ErrWithdrawalsDisabled, "a Create during pg_restore committed on the restored database")
	require.NoError(t, roundErr)
	require.True(t, round.Paused, "the Automation's round during pg_restore")
	require.Equal(t, 1, handed["wd-1"], "wd-1, paid after the backup, handed to the Submitter again")
}

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
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !pr.Done {
				e.tick(time.Now().Add(time.Hour))
			}
		},
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
