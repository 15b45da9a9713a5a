package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The Integration DB restore runbook under each of a DBA's session
// timeouts (300 ms, set on the database): its steps take longer than that
// (the restore, step 3's wait for the ingested record time to pass tSafe),
// and the procedure must hold nothing idle that the server ends: it opens
// the gate once, after tSafe.
func TestRV157RestoreProcedureUnderSessionTimeouts(t *testing.T) {
	for _, name := range []string{"idle_session_timeout", "idle_in_transaction_session_timeout", "statement_timeout", "lock_timeout"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			cids := e.mint("10", "10")
			inFlight := e.create(e.request("wd-restored", "5", cids[0]))
			_, err := e.db.ExecContext(e.ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET `+name+` = %L', current_database(), '300ms'); END $$`)
			require.NoError(t, err)
			e.db.SetMaxIdleConns(0) // new sessions take the setting
			e.db.SetMaxIdleConns(2)
			var got string
			require.NoError(t, e.db.GetContext(e.ctx, &got, `SELECT current_setting($1)`, name))
			require.Equal(t, "300ms", got)

			start := time.Now()
			p := withdrawal.RestoreProcedure{
				Store: e.store, TSafe: inFlight.TrecTgt, PollInterval: 100 * time.Millisecond, Logger: quietLog,
				Restore: func(context.Context) error { time.Sleep(time.Second); return nil },
				Progress: func(pr withdrawal.RestoreProgress) {
					if pr.Step != withdrawal.StepWait || pr.Done {
						return
					}
					g, err := e.store.Gate(e.ctx)
					require.NoError(t, err)
					require.False(t, g.Enabled, "the gate opened before tSafe")
					if time.Since(start) > 3*time.Second {
						e.tick(inFlight.TrecTgt.Add(time.Second)) // ingestion passes tSafe
					}
				},
			}
			rep, err := p.Run(e.ctx)
			require.NoError(t, err)
			require.GreaterOrEqual(t, rep.Waited, time.Second)
			g, err := e.store.Gate(e.ctx)
			require.NoError(t, err)
			require.True(t, g.Enabled)
			require.Equal(t, withdrawal.StatusExpired, e.get("wd-restored").Status)
			_, err = e.store.Create(e.ctx, e.request("wd-new", "5", cids[1]))
			require.NoError(t, err)
		})
	}
}
