package withdrawal_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// TestRV194RestoreLockTriedBeforeTheVersionCheck: during the
// RestoreProcedure's restore, pg_restore --single-transaction holds the
// tables it drops, the migration table among them, until it commits.
// CreateTx and MarkFailedTx checked the schema's version (a read of the
// migration table) before they tried the procedure's restore lock, so they
// waited behind pg_restore instead of refusing at once; an exchange
// transaction that had read txhistory's withdrawal table before calling
// them then deadlocked with pg_restore's DROP of it (SQLSTATE 40P01), and
// either the exchange's call or the restore failed. The restore lock is
// now tried first: both refuse at once (ErrWithdrawalsDisabled), before
// touching any table, and pg_restore goes on.
func TestRV194RestoreLockTriedBeforeTheVersionCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(e *env, ctx context.Context, tx *sqlx.Tx, cids []string) error
	}{
		{"CreateTx", func(e *env, ctx context.Context, tx *sqlx.Tx, cids []string) error {
			_, err := e.store.CreateTx(ctx, tx, e.request("wd-2", "5", cids[1]))
			return err
		}},
		{"MarkFailedTx", func(e *env, ctx context.Context, tx *sqlx.Tx, _ []string) error {
			_, err := e.store.MarkFailedTx(ctx, tx, "wd-1", "support: the user asked to cancel")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
			cids := e.mint("10", "10")
			e.tick(e.world.Now())
			e.create(e.request("wd-1", "5", cids[0]))

			var callErr error
			returned := false
			p := withdrawal.RestoreProcedure{
				Store: e.store, TSafe: time.Now(), PollInterval: 10 * time.Millisecond, Logger: quietLog,
				Restore: func(ctx context.Context) error {
					// pg_restore --single-transaction: the migration
					// table first (its DROP takes ACCESS EXCLUSIVE).
					pg, err := lockTable(ctx, e.db, "txhistory.txhistory_migration")
					if err != nil {
						return err
					}
					defer func() { _ = pg.Rollback() }()
					// The exchange's transaction: it read the withdrawal
					// table, then calls txhistory.
					done := make(chan error, 1)
					go func() {
						cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
						defer cancel()
						err := func() error {
							tx, err := e.db.BeginTxx(cctx, nil)
							if err != nil {
								return err
							}
							defer func() { _ = tx.Rollback() }()
							var n int
							if err := tx.GetContext(cctx, &n, `SELECT count(*) FROM txhistory.withdrawal`); err != nil {
								return err
							}
							return tc.call(e, cctx, tx, cids)
						}()
						done <- err
					}()
					// Until the call returned, or waits for the migration
					// table.
					for deadline := time.Now().Add(10 * time.Second); !returned; time.Sleep(5 * time.Millisecond) {
						select {
						case callErr = <-done:
							returned = true
							continue
						default:
						}
						waits, err := lockAwaited(ctx, e.db, "txhistory.txhistory_migration")
						if err != nil {
							return err
						}
						if waits {
							break
						}
						if time.Now().After(deadline) {
							return errors.New("the call neither returned nor waited for the migration table")
						}
					}
					// pg_restore's DROP of the withdrawal table.
					_, lockErr := pg.ExecContext(ctx, `LOCK TABLE txhistory.withdrawal IN ACCESS EXCLUSIVE MODE`)
					if !returned {
						callErr, returned = <-done, true
					}
					if lockErr != nil {
						return errors.Join(errors.New("pg_restore's DROP of the withdrawal table"), lockErr)
					}
					return nil
				},
				Progress: e.passTSafe,
			}
			ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
			defer cancel()
			_, err := p.Run(ctx)
			require.NoError(t, err, "the restore procedure (pg_restore the deadlock's victim?)")
			require.True(t, returned)
			require.ErrorIs(t, callErr, withdrawal.ErrWithdrawalsDisabled, "%s during pg_restore", tc.name)
			require.Contains(t, callErr.Error(), "restoring the database")
		})
	}
}

// TestRV194AutomationRefusesAtOnceDuringTheRestore: an Automation round
// listed its withdrawals before pg_restore took the migration table; its
// submission of wd-1 then checked the schema's version before the restore
// lock, and waited for pg_restore to commit (here, for the round's
// deadline) instead of pausing at once.
func TestRV194AutomationRefusesAtOnceDuringTheRestore(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.tick(e.world.Now())
	e.create(e.request("wd-1", "5", cids[0]))

	var round withdrawal.Round
	var roundErr error
	var mu sync.Mutex
	handed := 0
	p := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: time.Now(), PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			// The Automation's service: a Store that has not read the
			// gate since before step 1, which sees the backup's gate,
			// open, once pg_restore has restored it.
			svc, err := withdrawal.NewStore(e.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
			if err != nil {
				return err
			}
			auto, err := withdrawal.NewAutomation(svc, withdrawal.AutomationConfig{Logger: quietLog, Submitter: withdrawal.SubmitFunc(
				func(context.Context, *withdrawal.Withdrawal) error {
					mu.Lock()
					defer mu.Unlock()
					handed++
					return nil
				})})
			if err != nil {
				return err
			}
			if _, err := e.db.ExecContext(ctx, `UPDATE txhistory.withdrawal_gate
				SET enabled = true, reason = 'the backup''s', changed_at = changed_at - interval '1 hour'`); err != nil {
				return err
			}
			// The round is held at its listing of the withdrawals (a
			// lock on their table), while the migration table is taken
			// as pg_restore's DROP takes it; then the listing goes on.
			list, err := lockTable(ctx, e.db, "txhistory.withdrawal")
			if err != nil {
				return err
			}
			defer func() { _ = list.Rollback() }()
			done := make(chan struct{})
			go func() {
				defer close(done)
				rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				round, roundErr = auto.RunOnce(rctx)
			}()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				waits, err := lockAwaited(ctx, e.db, "txhistory.withdrawal")
				if err != nil {
					return err
				}
				if waits {
					break
				}
				select {
				case <-done:
					return errors.New("the round returned before it listed the withdrawals")
				default:
				}
				if time.Now().After(deadline) {
					return errors.New("the round did not list the withdrawals")
				}
			}
			pg, err := lockTable(ctx, e.db, "txhistory.txhistory_migration")
			if err != nil {
				return err
			}
			defer func() { _ = pg.Rollback() }()
			_ = list.Rollback()
			<-done
			return nil
		},
		Progress: e.passTSafe,
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	_, err := p.Run(ctx)
	require.NoError(t, err)
	require.NoError(t, roundErr, "the round during pg_restore")
	require.True(t, round.Paused, "the round during pg_restore")
	require.Contains(t, round.GateReason, "restoring the database")
	require.Zero(t, handed)
}
