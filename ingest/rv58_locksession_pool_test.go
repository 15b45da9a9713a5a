package ingest_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// The lock's session turns idle_session_timeout off for itself alone
// (docs/OPERATIONS.md: what txhistory sets is for its own use, no session
// SET elsewhere). Once the Ingester stops and unlocks, that session must not
// go back to the pool with the setting: the pool's later users (batches,
// the exchange's own statements on the same *sql.DB) would then sit idle
// without the DBA's timeout.
func TestLockSessionSettingDoesNotReachThePool(t *testing.T) {
	ctx, db, _, client := embedRig(t)
	_, err := db.ExecContext(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_session_timeout = %L', current_database(), '1h'); END $$`)
	require.NoError(t, err)
	db.SetMaxIdleConns(0) // closes the idle connections: new sessions take the setting
	db.SetMaxIdleConns(10)

	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	for deadline := time.Now().Add(30 * time.Second); ing.Stats().State != ingest.StateStreaming; {
		require.False(t, time.Now().After(deadline), "state %s, want streaming", ing.Stats().State)
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	idle := db.Stats().Idle
	require.Positive(t, idle)
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range idle { // the pool's idle sessions, each once
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		conns = append(conns, c)
		var v string
		require.NoError(t, c.QueryRowContext(ctx, `SHOW idle_session_timeout`).Scan(&v))
		require.Equal(t, "1h", v, "a pooled session kept the lock session's idle_session_timeout")
	}
}
