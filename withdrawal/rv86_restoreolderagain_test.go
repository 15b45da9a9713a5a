package withdrawal_test

import (
	"testing"

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
	restoredAgain, err := restoreWithStep3End(e, func() {
		// Step 3 is over; the database is restored again, from a backup
		// taken before this release's last migration, its gate open as at
		// backup time.
		_, err := e.db.ExecContext(e.ctx, `UPDATE txhistory.withdrawal_gate SET enabled = true, reason = 'from the older backup', changed_at = now() - interval '1 day'`)
		require.NoError(t, err)
		_, err = e.db.ExecContext(e.ctx, `DELETE FROM txhistory.txhistory_migration WHERE version = $1`, schema.Latest())
		require.NoError(t, err)
	})
	require.True(t, restoredAgain, "the test never restored again")
	g, gerr := e.store.Gate(e.ctx)
	require.NoError(t, gerr)
	require.False(t, g.Enabled, "the procedure ended (%v) leaving the gate of the older backup restored again open (%q), tSafe not waited for on it", err, g.Reason)
}
