package ingest_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// One Ingester on a pool of two connections it shares with a busy
// application: Run, holding the lock, waits for the application's
// connection to load the checkpoint. The application gives it back and at
// once asks for one again: the wait for a connection ends (awaitPoolConn
// gives it back to the pool), the application takes it, and the
// checkpoint's load waits for one in its statement. Nothing is received
// yet, so Stop must end Run with nil at once, as it ends the wait before
// (TestRV127StopEndsTheWaitForAPoolConnection): it did not, until the
// application gave its connection back.
func TestRV132StopEndsTheCheckpointLoadsWaitForAPoolConnection(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)
	db.SetMaxOpenConns(2)

	app, err := db.Conn(ctx)
	require.NoError(t, err)
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"},
		LockCheck: 10 * time.Second, Logger: quietLog})
	require.NoError(t, err)
	done := runInBackground(t, ctx, ing)
	// The lock taken, Run waits for the pool.
	require.Eventually(t, func() bool { return db.Stats().WaitCount > 0 }, 10*time.Second, 10*time.Millisecond)
	waits := db.Stats().WaitCount
	// The application gives its connection back and asks again at once:
	// it gets the one Run's wait gave back.
	require.NoError(t, app.Close())
	app, err = db.Conn(ctx)
	require.NoError(t, err)
	defer func(app *sql.Conn) { app.Close() }(app)
	require.Eventually(t, func() bool { return db.Stats().WaitCount > waits }, 10*time.Second, 10*time.Millisecond,
		"the application waits for a connection, or the checkpoint's load")
	requireStopEndsRun(t, ing, done, "the checkpoint's load waited for a pool connection", func() { app.Close() })
}
