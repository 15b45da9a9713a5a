package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A lock whose unlock does not get through (here: its session left in an
// aborted transaction, so PostgreSQL refuses the statement) must not go
// back to the pool with its session: that session would keep holding the
// advisory lock, and a standby would wait for it for as long as the
// process lives.
func TestReleaseThatCannotUnlockEndsTheSession(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDSN(t)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	var got bool
	require.NoError(t, conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, lockClass, "txhistory").Scan(&got))
	require.True(t, got)
	_, err = conn.ExecContext(ctx, `BEGIN`)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, `SELECT 1/0`)
	require.Error(t, err)

	(&instanceLock{conn: conn, schema: "txhistory"}).release()

	other, err := sqlx.Open("postgres", dsn) // a session of its own
	require.NoError(t, err)
	defer other.Close()
	// The server ends the session once it reads the client's close, a
	// moment after release returns; a session back in the pool would hold
	// the lock for ever.
	var held int
	for deadline := time.Now().Add(10 * time.Second); ; {
		require.NoError(t, other.GetContext(ctx, &held, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::oid AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, lockClass))
		if held == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.Zero(t, held, "the released lock's session went back to the pool still holding the lock")
}
