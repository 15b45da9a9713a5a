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

// A DBA's idle_session_timeout (set for the role or the database, here 1s)
// shorter than Config.LockCheck (here 3s) must not end the session holding
// the ingestion lock, which sits idle between checks: the lock would go
// with it, a standby would take it and both would stream until the first
// one's next check, and then again after every timeout.
func TestRV52IdleSessionTimeoutKeepsTheLock(t *testing.T) {
	ctx := context.Background()
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	_, err := b.db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_session_timeout = %L', current_database(), '1s'); END $$`)
	require.NoError(t, err)
	db, err := sqlx.Open("postgres", b.dsn) // new sessions take the setting
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var timeout string
	require.NoError(t, db.Get(&timeout, `SHOW idle_session_timeout`))
	require.Equal(t, "1s", timeout)
	b.db = db
	appendN(t, b.p, 0, 20)

	first := newIngester(t, b, ingest.Config{LockCheck: 3 * time.Second, LockPoll: 20 * time.Millisecond})
	done1 := make(chan error, 1)
	go func() { done1 <- first.Run(ctx) }()
	require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	held := lockHolders(t, b.db)
	require.Len(t, held, 1)
	second := newIngester(t, b, ingest.Config{LockCheck: 3 * time.Second, LockPoll: 20 * time.Millisecond})
	done2 := make(chan error, 1)
	go func() { done2 <- second.Run(ctx) }()
	require.Eventually(t, func() bool { return second.Stats().State == ingest.StateWaitingForLock }, 10*time.Second, 5*time.Millisecond)

	time.Sleep(4 * time.Second) // idle: past the timeout, and past a LockCheck
	require.Equal(t, held, lockHolders(t, b.db), "the session holding the lock was ended by idle_session_timeout")
	require.Equal(t, ingest.StateWaitingForLock, second.Stats().State, "the standby took the lock")
	appendN(t, b.p, 20, 10)
	require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, first.Stats().Errors["database"], "the first lost its lock: %+v", first.Stats().Errors)
	require.Zero(t, second.Stats().Batches, "the standby committed batches")
	first.Stop()
	second.Stop()
	require.NoError(t, <-done1)
	require.NoError(t, <-done2)
	requireAllOnce(t, b)
}
