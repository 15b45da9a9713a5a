package recovery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// A runbook step whose context ends while a statement of its waits (here
// for a lock another session holds on the checkpoint, or on the rewinds'
// audit table) reports that end: errors.Is finds context.DeadlineExceeded,
// not only lib/pq's "canceling statement due to user request" for the
// cancelled statement, so that the operator's tool running it under a
// deadline (or stopped with ^C) can tell it from a database fault.
func TestRV94RunbookEndedMidStatementReportsTheContext(t *testing.T) {
	b := newBundle(t)
	restoredAfter(t, b, script(60), 20, "tx-00040")
	rw, err := recovery.Plan(context.Background(), b.db, b.client, options(recovery.ModeUnique))
	require.NoError(t, err)

	for _, c := range []struct {
		name, table string
		run         func(ctx context.Context) error
	}{
		{"Plan", "txhistory.checkpoint", func(ctx context.Context) error {
			_, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeUnique))
			return err
		}},
		{"Apply", "txhistory.checkpoint_rewind", func(ctx context.Context) error {
			return recovery.Apply(ctx, b.db, rw)
		}},
		{"Runbook", "txhistory.checkpoint", func(ctx context.Context) error {
			_, err := (&recovery.Runbook{DB: b.db, Participant: b.client, Options: options(recovery.ModeUnique), Apply: true}).Run(ctx)
			return err
		}},
		{"Runbook", "txhistory.checkpoint_rewind", func(ctx context.Context) error {
			_, err := (&recovery.Runbook{DB: b.db, Participant: b.client, Options: options(recovery.ModeUnique), Apply: true}).Run(ctx)
			return err
		}},
	} {
		t.Run(c.name+"/"+c.table, func(t *testing.T) {
			lock, err := b.db.Beginx()
			require.NoError(t, err)
			defer lock.Rollback()
			_, err = lock.Exec(`LOCK TABLE ` + c.table + ` IN ACCESS EXCLUSIVE MODE`)
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err = c.run(ctx)
			require.Error(t, err)
			require.True(t, errors.Is(err, context.DeadlineExceeded), "the context ended mid-statement, but the error does not say so: %v", err)
		})
	}
}
