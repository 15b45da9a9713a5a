package withdrawal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A Store write, or an Automation round, whose context ends while a
// statement of its waits (here for a lock another session holds on the
// table it writes) reports that end: errors.Is finds
// context.DeadlineExceeded, not only lib/pq's "canceling statement due to
// user request" for the cancelled statement, so that a caller (a request
// handler under a deadline, a service shutting down) can tell the end of
// its context from a database fault. RunOnce documents its error as "a
// database fault or ctx's error"; it was the first. (The restore
// procedure's, fixed alike: TestRestoreProcedureEndedMidStatementReportsTheContext.)
func TestRV94EndedMidStatementReportsTheContext(t *testing.T) {
	for _, c := range []midStatement{
		{"RunOnce", withdrawal.Table, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
				Submitter: withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { return nil })})
			require.NoError(t, err)
			_, err = auto.RunOnce(ctx)
			return err
		}},
		{"RunOnce", withdrawal.GateTable, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
				Submitter: withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { return nil })})
			require.NoError(t, err)
			_, err = auto.RunOnce(ctx)
			return err
		}},
		{"ExpireDue", withdrawal.Table, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, err := e.store.ExpireDue(ctx, map[string]time.Time{"": e.world.Now().Add(time.Hour)})
			return err
		}},
		{"MarkFailed", withdrawal.Table, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, err := e.store.MarkFailed(ctx, w.ID, "cancelled by support")
			return err
		}},
		{"MarkSubmitted", withdrawal.Table, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, err := e.store.MarkSubmitted(ctx, w.ID)
			return err
		}},
		{"Create", withdrawal.Table, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, err := e.store.Create(ctx, e.request("wd-2", "10", w.ReservedHoldings...))
			return err
		}},
		{"Disable", withdrawal.GateTable, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			return e.store.Disable(ctx, "restore")
		}},
		{"EnableAfter", withdrawal.GateTable, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, _, err := e.store.EnableAfter(ctx, e.world.Now(), "restored")
			return err
		}},
	} {
		t.Run(c.name+"/"+c.table, func(t *testing.T) {
			c.check(t)
		})
	}
}

// midStatement is a call (run) whose context ends, under a 300 ms
// deadline, while its statement waits for the lock another session holds
// on table; w is a withdrawal requested before.
type midStatement struct {
	name, table string
	run         func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error
}

// check runs c and requires its error to say that the context ended.
func (c midStatement) check(t *testing.T) {
	t.Helper()
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	holdings := e.mint("100")
	w := e.create(e.request("wd-1", "40", holdings[0]))

	lock, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	defer lock.Rollback()
	_, err = lock.ExecContext(e.ctx, `LOCK TABLE `+schema.Qualify(e.store.Config().Schema, c.table)+` IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(e.ctx, 300*time.Millisecond)
	defer cancel()
	err = c.run(e, ctx, w)
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "the context ended mid-statement, but the error does not say so: %v", err)
}
