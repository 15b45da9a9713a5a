package checkpoint_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// Get, Rewinds and SetParties, single statements, whose context ends while
// the statement waits (here for a lock another session holds on the table)
// report that end as Init does: errors.Is finds context.DeadlineExceeded,
// not only lib/pq's "canceling statement due to user request".
func TestRV97ReadEndedMidStatementReportsTheContext(t *testing.T) {
	for _, c := range []struct {
		name, table string
		run         func(ctx context.Context, db *sqlx.DB, s *checkpoint.Store) error
	}{
		{"Get", "ck.checkpoint", func(ctx context.Context, db *sqlx.DB, s *checkpoint.Store) error {
			_, _, err := s.Get(ctx, db)
			return err
		}},
		{"Get/synchronizer_time", "ck.synchronizer_time", func(ctx context.Context, db *sqlx.DB, s *checkpoint.Store) error {
			_, _, err := s.Get(ctx, db)
			return err
		}},
		{"GetInTx", "ck.checkpoint", func(ctx context.Context, db *sqlx.DB, s *checkpoint.Store) error {
			tx, err := db.Beginx()
			require.NoError(t, err)
			defer tx.Rollback()
			_, _, err = s.Get(ctx, tx)
			return err
		}},
		{"Rewinds", "ck.checkpoint_rewind", func(ctx context.Context, db *sqlx.DB, s *checkpoint.Store) error {
			_, err := s.Rewinds(ctx, db)
			return err
		}},
		{"SetParties", "ck.checkpoint", func(ctx context.Context, db *sqlx.DB, s *checkpoint.Store) error {
			return s.SetParties(ctx, db, []string{"treasury::1"}, []string{"treasury::2"})
		}},
		// The writers that run in the caller's transaction, too.
		{"AdvanceTx", "ck.checkpoint", func(ctx context.Context, db *sqlx.DB, s *checkpoint.Store) error {
			tx, err := db.Beginx()
			require.NoError(t, err)
			defer tx.Rollback()
			return s.AdvanceTx(ctx, tx, 0, checkpoint.Checkpoint{Offset: 5})
		}},
		{"RewindTx", "ck.checkpoint", func(ctx context.Context, db *sqlx.DB, s *checkpoint.Store) error {
			tx, err := db.Beginx()
			require.NoError(t, err)
			defer tx.Rollback()
			return s.RewindTx(ctx, tx, checkpoint.Rewind{From: 0, To: 0, Mode: "test"})
		}},
		{"RewindTx/synchronizer_time", "ck.synchronizer_time", func(ctx context.Context, db *sqlx.DB, s *checkpoint.Store) error {
			tx, err := db.Beginx()
			require.NoError(t, err)
			defer tx.Rollback()
			return s.RewindTx(ctx, tx, checkpoint.Rewind{From: 0, To: 0, Mode: "test", SynchronizerID: "sync::1", RecoveryTime: time.Now()})
		}},
		{"RewindTx/checkpoint_rewind", "ck.checkpoint_rewind", func(ctx context.Context, db *sqlx.DB, s *checkpoint.Store) error {
			tx, err := db.Beginx()
			require.NoError(t, err)
			defer tx.Rollback()
			return s.RewindTx(ctx, tx, checkpoint.Rewind{From: 0, To: 0, Mode: "test"})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, s := setup(t)
			_, err := s.Init(context.Background(), db, 0, "treasury::1")
			require.NoError(t, err)
			lock, err := db.Beginx()
			require.NoError(t, err)
			defer lock.Rollback()
			_, err = lock.Exec(`LOCK TABLE ` + c.table + ` IN ACCESS EXCLUSIVE MODE`)
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err = c.run(ctx, db, s)
			require.Error(t, err)
			require.True(t, errors.Is(err, context.DeadlineExceeded), "the context ended mid-statement, but the error does not say so: %v", err)
		})
	}
}
