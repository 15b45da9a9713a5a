package withdrawal_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The Integration DB restore procedure under a DBA's
// default_transaction_read_only = on for the database, which OPERATIONS.md
// says does not stop txhistory's writes (lib/pq begins every transaction
// READ WRITE), over a live Ingester (History and Reconciler, over the
// fake participant): it closes the gate, moves the history's Seq past what
// readers saw (tokenstd.RenumberAfterRestore), waits for tSafe and opens
// the gate again, the withdrawal in flight in the backup expired.
func TestRV185RestoreProcedureUnderDefaultReadOnly(t *testing.T) {
	db := pgtest.NewDB(t)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	holdings := l.mintAndCatchUp("10", "10")
	inFlight := l.submitted("wd-restored", "5", holdings[0])
	l.caughtUp()
	l.stopIngester()
	var seqBefore int64
	require.NoError(t, db.Get(&seqBefore, `SELECT last_value FROM txhistory.token_history_id_seq`))

	_, err := db.ExecContext(l.ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$`)
	require.NoError(t, err)
	db.SetMaxIdleConns(0) // new sessions take the setting
	db.SetMaxIdleConns(2)
	var ro string
	require.NoError(t, db.Get(&ro, `SHOW default_transaction_read_only`))
	require.Equal(t, "on", ro)
	l.startIngester()
	l.caughtUp()

	var once sync.Once
	p := withdrawal.RestoreProcedure{
		Store: l.store, TSafe: inFlight.TrecTgt, PollInterval: 20 * time.Millisecond, Logger: quietLog,
		Restore: func(context.Context) error { return nil }, // the backup was taken just now
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !pr.Done {
				once.Do(func() { l.advance(ttl + time.Second) }) // ingestion passes tSafe
			}
		},
	}
	rep, err := p.Run(l.ctx)
	require.NoError(t, err, "the restore procedure under default_transaction_read_only = on")
	require.NotNil(t, rep)
	g, err := l.store.Gate(l.ctx)
	require.NoError(t, err)
	require.True(t, g.Enabled, "the gate after the procedure")
	require.Equal(t, withdrawal.StatusExpired, l.get("wd-restored").Status)
	var seqAfter int64
	require.NoError(t, db.Get(&seqAfter, `SELECT last_value FROM txhistory.token_history_id_seq`))
	require.Greater(t, seqAfter, seqBefore, "the history's Seq was not moved past what readers saw")
	_, err = l.store.Create(l.ctx, l.request("wd-new", "5", holdings[1]))
	require.NoError(t, err)
}
