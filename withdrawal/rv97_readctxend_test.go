package withdrawal_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A Store read whose context ends while its statement waits (here for a
// lock another session holds on the table it reads) reports that end, as
// the writes do (TestRV94EndedMidStatementReportsTheContext): errors.Is
// finds context.DeadlineExceeded, not only lib/pq's "canceling statement
// due to user request", so that a request handler under a deadline can
// tell the end of its context from a database fault.
func TestRV97ReadEndedMidStatementReportsTheContext(t *testing.T) {
	for _, c := range []midStatement{
		{"Get", withdrawal.Table, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, err := e.store.Get(ctx, w.ID)
			return err
		}},
		{"GetTx", withdrawal.Table, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			tx, err := e.db.BeginTxx(e.ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback()
			_, err = e.store.GetTx(ctx, tx, w.ID)
			return err
		}},
		{"ListByStatus", withdrawal.Table, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, err := e.store.ListByStatus(ctx, withdrawal.StatusRequested)
			return err
		}},
		{"ListByStatusTx", withdrawal.Table, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			tx, err := e.db.BeginTxx(e.ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback()
			_, err = e.store.ListByStatusTx(ctx, tx)
			return err
		}},
		{"Gate", withdrawal.GateTable, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, err := e.store.Gate(ctx)
			return err
		}},
		{"GateTx", withdrawal.GateTable, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			tx, err := e.db.BeginTxx(e.ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback()
			_, err = e.store.GateTx(ctx, tx)
			return err
		}},
		{"GateLog", withdrawal.GateLogTable, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, err := e.store.GateLog(ctx)
			return err
		}},
		{"IngestedTime", "checkpoint", func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, err := e.store.IngestedTime(ctx)
			return err
		}},
		{"Reservations", withdrawal.ReservationTable, func(e *env, ctx context.Context, w *withdrawal.Withdrawal) error {
			_, err := e.store.Reservations(ctx)
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.check(t)
		})
	}
}
