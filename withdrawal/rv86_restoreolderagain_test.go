package withdrawal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The restore procedure handles a database restored once more before the
// gate opens: step 4 opens only over its own closure, and on finding the
// gate gone back to before it closes the restored gate again and waits,
// for the restored schema's migration too. Since the gate's opening checks
// the schema's version first, a second restore of a backup older than this
// release's migrations, landing after step 3, fails step 4 with
// schema.ErrNotMigrated before that: the procedure gave up leaving the
// restored gate as the backup had it, open, and once the schema is
// migrated the Automation submits the restored withdrawals in flight
// without waiting for tSafe.
func TestRestoreProcedureClosesAnOlderBackupRestoredBeforeStep4(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	ledgerNow := e.world.Now()

	restoredAgain := false
	p := withdrawal.RestoreProcedure{
		Store:        e.store,
		TTL:          ttl,
		Now:          func() time.Time { return ledgerNow },
		PollInterval: time.Millisecond,
		Logger:       quietLog,
		Restore:      func(ctx context.Context) error { return nil },
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !pr.Done && pr.Waited > 0 {
				e.tick(e.times[e.world.SynchronizerID].Add(ttl / 2)) // ingestion moves on
			}
			if pr.Step == withdrawal.StepWait && pr.Done && !restoredAgain && strings.HasPrefix(pr.Message, "ingested record time") {
				// Step 3 is over; the database is restored again, from a
				// backup taken before this release's last migration, its
				// gate open as at backup time.
				restoredAgain = true
				_, err := e.db.ExecContext(e.ctx, `UPDATE txhistory.withdrawal_gate SET enabled = true, reason = 'from the older backup', changed_at = now() - interval '1 day'`)
				require.NoError(t, err)
				_, err = e.db.ExecContext(e.ctx, `DELETE FROM txhistory.txhistory_migration WHERE version = $1`, schema.Latest())
				require.NoError(t, err)
			}
		},
	}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	_, err := p.Run(ctx)
	require.True(t, restoredAgain, "the test never restored again")
	g, gerr := e.store.Gate(e.ctx)
	require.NoError(t, gerr)
	require.False(t, g.Enabled, "the procedure ended (%v) leaving the gate of the older backup restored again open (%q), tSafe not waited for on it", err, g.Reason)
}
