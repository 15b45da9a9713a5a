package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A standby waits several seconds for the ingestion lock under each of a
// DBA's session timeouts (300 ms, on the database), then takes over when
// the first stops: the lock is neither lost by the first while it waits
// nor taken twice, and everything is ingested once.
func TestRV157StandbyUnderSessionTimeouts(t *testing.T) {
	for _, name := range []string{"idle_session_timeout", "idle_in_transaction_session_timeout", "statement_timeout", "lock_timeout"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
			_, err := b.db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET ` + name + ` = %L', current_database(), '300ms'); END $$`)
			require.NoError(t, err)
			db, err := sqlx.Open("postgres", b.dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			b.db = db
			appendN(t, b.p, 0, 20)
			cfg := ingest.Config{LockCheck: time.Second, LockPoll: 20 * time.Millisecond}
			first := newIngester(t, b, cfg)
			done1 := make(chan error, 1)
			go func() { done1 <- first.Run(ctx) }()
			require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
			second := newIngester(t, b, cfg)
			done2 := make(chan error, 1)
			go func() { done2 <- second.Run(ctx) }()
			require.Eventually(t, func() bool { return second.Stats().State == ingest.StateWaitingForLock }, 10*time.Second, 5*time.Millisecond)
			time.Sleep(3 * time.Second)
			appendN(t, b.p, 20, 10)
			require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
			require.Zero(t, first.Stats().Errors["database"], "the first: %+v", first.Stats().Errors)
			require.Zero(t, second.Stats().Batches, "the standby committed batches")
			first.Stop()
			require.NoError(t, <-done1)
			appendN(t, b.p, 30, 10)
			require.Eventually(t, func() bool { return second.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
			second.Stop()
			require.NoError(t, <-done2)
			requireAllOnce(t, b)
		})
	}
}
