package withdrawal_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// openTxs lists the sessions of the test's database, other than the one
// asking, that are in a transaction: their state, last query, and whether
// they hold back VACUUM's horizon (backend_xmin, backend_xid).
type openTx struct {
	State string         `db:"state"`
	Query string         `db:"query"`
	Xmin  sql.NullString `db:"backend_xmin"`
	Xid   sql.NullString `db:"backend_xid"`
}

func openTxs(t *testing.T, ctx context.Context, db *sqlx.DB) []openTx {
	t.Helper()
	var rows []openTx
	require.NoError(t, db.SelectContext(ctx, &rows, `SELECT state, query, backend_xmin::text AS backend_xmin, backend_xid::text AS backend_xid
		FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`))
	return rows
}

// While the Submitter waits, the second connection (rec) waits in a READ
// COMMITTED transaction of its own: it holds no snapshot (backend_xmin) nor
// a transaction id (backend_xid), so a long Submit does not hold back
// VACUUM on its account; after the round no transaction is left open,
// whether the participant accepted or refused.
func TestRV149HeldRecHoldsNoSnapshotDuringSubmit(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("refuse=%v", refuse), func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			holdings := e.mint("100")
			e.create(e.request("wd-1", "10", holdings[0]))
			var during []openTx
			submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
				time.Sleep(50 * time.Millisecond)
				during = openTxs(t, ctx, e.db)
				if refuse {
					return withdrawal.ErrNoPreapproval
				}
				return nil
			})
			auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
			require.NoError(t, err)
			_, err = auto.RunOnce(e.ctx)
			require.NoError(t, err)
			held := 0
			for _, s := range during {
				if s.Query == `SELECT set_config('idle_in_transaction_session_timeout', '0', true)` {
					held++
					require.False(t, s.Xmin.Valid, "rec's waiting transaction holds a snapshot: %+v", s)
					require.False(t, s.Xid.Valid, "rec's waiting transaction holds a transaction id: %+v", s)
				}
			}
			require.Equal(t, 1, held, "rec's waiting transaction among %+v", during)
			require.Empty(t, openTxs(t, e.ctx, e.db), "transactions left open after the round")
			require.Zero(t, e.db.Stats().InUse)
		})
	}
}

// The round's context ends while the Submitter waits: RunOnce returns,
// neither connection is left in a transaction nor in use, the withdrawal
// stays requested with its attempt recorded, and the next round (a pool of
// exactly two) hands it over again.
func TestRV149HeldRecContextEndsMidSubmit(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	holdings := e.mint("100")
	e.create(e.request("wd-1", "10", holdings[0]))
	ctx, cancel := context.WithCancel(e.ctx)
	calls := 0
	submitter := withdrawal.SubmitFunc(func(sctx context.Context, w *withdrawal.Withdrawal) error {
		calls++
		if calls == 1 {
			cancel()
			<-sctx.Done()
			return sctx.Err()
		}
		return nil
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)
	_, err = auto.RunOnce(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Eventually(t, func() bool { return len(openTxs(t, e.ctx, e.db)) == 0 }, 5*time.Second, 10*time.Millisecond,
		"transactions left open after the round's context ended")
	w := e.get("wd-1")
	require.Equal(t, withdrawal.StatusRequested, w.Status)
	require.NotNil(t, w.SubmitAttemptedAt)

	e.db.SetMaxOpenConns(2)
	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Submitted: 1}, round)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-1").Status)
	require.Zero(t, e.db.Stats().InUse)
}

// A Submitter that panics: rec's waiting transaction ends with the round's,
// none is left open on a connection returned to the pool.
func TestRV149HeldRecSubmitPanicLeavesNoTransaction(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	holdings := e.mint("100")
	e.create(e.request("wd-1", "10", holdings[0]))
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { panic("submitter bug") })})
	require.NoError(t, err)
	func() {
		defer func() { require.Equal(t, "submitter bug", recover()) }()
		_, _ = auto.RunOnce(e.ctx)
	}()
	require.Empty(t, openTxs(t, e.ctx, e.db), "transactions left open after the Submitter panicked")
	require.Zero(t, e.db.Stats().InUse)
}
