package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// The Ingester's calls for an operator (SetAsideTransactions,
// ResolveSetAside, LedgerEndLag before Run) whose context ends while a
// statement waits (here for a lock another session holds on the table)
// report that end: errors.Is finds context.DeadlineExceeded, not only
// lib/pq's "canceling statement due to user request", which
// IsTransientDBError takes for a transient fault.
func TestRV97ReadEndedMidStatementReportsTheContext(t *testing.T) {
	for _, c := range []struct {
		name, table string
		run         func(ctx context.Context, ing *ingest.Ingester) error
	}{
		{"SetAsideTransactions", "txhistory.review_transaction", func(ctx context.Context, ing *ingest.Ingester) error {
			_, err := ing.SetAsideTransactions(ctx)
			return err
		}},
		{"ResolveSetAside", "txhistory.review_transaction", func(ctx context.Context, ing *ingest.Ingester) error {
			return ing.ResolveSetAside(ctx, "offset:3", "applied by hand")
		}},
		{"LedgerEndLag", "txhistory.checkpoint", func(ctx context.Context, ing *ingest.Ingester) error {
			_, err := ing.LedgerEndLag(ctx)
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := setup(t)
			ing := newIngester(t, b, ingest.Config{})
			lock, err := b.db.Beginx()
			require.NoError(t, err)
			defer lock.Rollback()
			_, err = lock.Exec(`LOCK TABLE ` + c.table + ` IN ACCESS EXCLUSIVE MODE`)
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err = c.run(ctx, ing)
			require.Error(t, err)
			require.True(t, errors.Is(err, context.DeadlineExceeded), "the context ended mid-statement, but the error does not say so: %v", err)
		})
	}
}
