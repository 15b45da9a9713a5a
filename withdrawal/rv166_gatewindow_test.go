package withdrawal_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestRV166GateWindowDuringTheRestore runs RestoreProcedure with a Restore
// that calls pg_restore, while an exchange API server's Store and the
// withdrawal service's Automation, each with a Store of its own, keep
// running. A Create and an Automation round sent during pg_restore wait
// behind it, then read the restored gate: the backup's, open. Each Store
// read the gate once after step 1 closed it (Store.Gate, a round of the
// Automation), as docs/OPERATIONS.md says to: the restored gate is then
// rewound for them (Gate.Rewound), the Create is refused and the round
// paused, and wd-1, requested in the backup and handed to the Submitter
// after it, is not handed over again. (Without that read, both went
// through: the Create committed on the restored database and wd-1 was
// handed over a second time before step 2 closed the gate; the
// procedure's restore lock now refuses them too:
// TestRestoreHoldsStoresThatDidNotSeeStepOne.)
func TestRV166GateWindowDuringTheRestore(t *testing.T) { gateWindowDuringTheRestore(t, true) }

// gateWindowDuringTheRestore is TestRV166GateWindowDuringTheRestore, with
// or without the services' reads of the gate after step 1.
func gateWindowDuringTheRestore(t *testing.T, readAfterStepOne bool) {
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	db := pgtest.NewDB(t)
	var name string
	require.NoError(t, db.Get(&name, `SELECT current_database()`))
	dsn := pgtest.SharedServer(t).DSN(name)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	ctx := l.ctx
	holdings := l.mintAndCatchUp("50", "50", "50")

	api, auto, handed := apiAndCountingAutomation(t, db)

	// wd-1 is requested in the backup; the Automation hands it over (its
	// transfer paid) after the backup.
	_, err := api.Create(ctx, l.request("wd-1", "10", holdings[0]))
	require.NoError(t, err)
	backup := filepath.Join(t.TempDir(), "integration.dump")
	runTool(ctx, t, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn)
	_, err = auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, handed["wd-1"])
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
			if readAfterStepOne {
				// Both services read the gate after step 1, before
				// the restore.
				g, err := api.Gate(ctx)
				require.NoError(t, err)
				require.False(t, g.Open())
				r, err := auto.RunOnce(ctx)
				require.NoError(t, err)
				require.True(t, r.Paused)
			}
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

// apiAndCountingAutomation returns an API server's Store and an Automation
// on a Store of its own, both on db, as two services of an exchange would
// run them; the Automation's Submitter counts, in handed, how often it was
// given each withdrawal (read it once the rounds are done).
func apiAndCountingAutomation(t *testing.T, db *sqlx.DB) (api *withdrawal.Store, auto *withdrawal.Automation, handed map[string]int) {
	t.Helper()
	api, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	svc, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
	require.NoError(t, err)
	var mu sync.Mutex
	handed = map[string]int{}
	auto, err = withdrawal.NewAutomation(svc, withdrawal.AutomationConfig{Submitter: withdrawal.SubmitFunc(
		func(_ context.Context, w *withdrawal.Withdrawal) error {
			mu.Lock()
			defer mu.Unlock()
			handed[w.ID]++
			return nil
		}), Logger: quietLog})
	require.NoError(t, err)
	return api, auto, handed
}
