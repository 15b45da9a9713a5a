package tokenstd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A read whose context ends while its statement waits (here for a lock
// another session holds on the table it reads) reports that end, as
// RenumberAfterRestore does: errors.Is finds context.DeadlineExceeded, not
// only lib/pq's "canceling statement due to user request", so that an
// exchange's balance or history endpoint under a deadline can tell the end
// of its context from a database fault.
func TestRV97ReadEndedMidStatementReportsTheContext(t *testing.T) {
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(context.Background(), db))
	for _, c := range []struct {
		name, table string
		run         func(ctx context.Context, q sqlx.QueryerContext) error
	}{
		{"ListEntries", tokenstd.HistoryTable, func(ctx context.Context, q sqlx.QueryerContext) error {
			_, err := tokenstd.ListEntries(ctx, q, schema.DefaultName, tokenstd.EntryFilter{})
			return err
		}},
		{"Balances", tokenstd.HoldingTable, func(ctx context.Context, q sqlx.QueryerContext) error {
			_, err := tokenstd.Balances(ctx, q, schema.DefaultName)
			return err
		}},
		{"LiveHoldings", tokenstd.HoldingTable, func(ctx context.Context, q sqlx.QueryerContext) error {
			_, err := tokenstd.LiveHoldings(ctx, q, schema.DefaultName)
			return err
		}},
		{"HoldingsByID", tokenstd.HoldingTable, func(ctx context.Context, q sqlx.QueryerContext) error {
			_, err := tokenstd.HoldingsByID(ctx, q, schema.DefaultName, []string{"00cid"})
			return err
		}},
		{"PendingInstructions", tokenstd.InstructionTable, func(ctx context.Context, q sqlx.QueryerContext) error {
			_, err := tokenstd.PendingInstructions(ctx, q, schema.DefaultName)
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			lock, err := db.Beginx()
			require.NoError(t, err)
			defer lock.Rollback()
			_, err = lock.Exec(`LOCK TABLE ` + schema.Qualify(schema.DefaultName, c.table) + ` IN ACCESS EXCLUSIVE MODE`)
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err = c.run(ctx, db)
			require.Error(t, err)
			require.True(t, errors.Is(err, context.DeadlineExceeded), "the context ended mid-statement, but the error does not say so: %v", err)
		})
	}
}
