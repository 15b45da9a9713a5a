package dedup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A read whose context ends while its statement waits (here for a lock
// another session holds on the table, as a VACUUM FULL does) reports that
// end as PruneBefore does: errors.Is finds context.DeadlineExceeded, not
// only lib/pq's "canceling statement due to user request".
func TestRV97ReadEndedMidStatementReportsTheContext(t *testing.T) {
	db, s := migratedStore(t)
	for _, c := range []struct {
		name string
		run  func(ctx context.Context, q sqlx.QueryerContext, s *dedup.Store) error
	}{
		{"Contains", func(ctx context.Context, q sqlx.QueryerContext, s *dedup.Store) error {
			_, err := s.Contains(ctx, q, "tx-1")
			return err
		}},
		{"OffsetOf", func(ctx context.Context, q sqlx.QueryerContext, s *dedup.Store) error {
			_, _, err := s.OffsetOf(ctx, q, "tx-1")
			return err
		}},
		{"Count", func(ctx context.Context, q sqlx.QueryerContext, s *dedup.Store) error {
			_, err := s.Count(ctx, q)
			return err
		}},
		{"Since", func(ctx context.Context, q sqlx.QueryerContext, s *dedup.Store) error {
			_, err := s.Since(ctx, q, time.Now())
			return err
		}},
		{"At", func(ctx context.Context, q sqlx.QueryerContext, s *dedup.Store) error {
			_, err := s.At(ctx, q, "sync::1", time.Now())
			return err
		}},
		// The claim, which runs in the caller's transaction, too.
		{"ClaimTx", func(ctx context.Context, _ sqlx.QueryerContext, s *dedup.Store) error {
			tx, err := db.Beginx()
			require.NoError(t, err)
			defer tx.Rollback()
			_, err = s.ClaimTx(ctx, tx, []*ledger.Transaction{{UpdateID: "tx-1", Offset: 1, RecordTime: time.Now(), SynchronizerID: "sync::1"}})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			lock, err := db.Beginx()
			require.NoError(t, err)
			defer lock.Rollback()
			_, err = lock.Exec(`LOCK TABLE ` + schema.Qualify(schema.DefaultName, "ingested_update") + ` IN ACCESS EXCLUSIVE MODE`)
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err = c.run(ctx, db, s)
			require.Error(t, err)
			require.True(t, errors.Is(err, context.DeadlineExceeded), "the context ended mid-statement, but the error does not say so: %v", err)
		})
	}
}
