package ingest_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// One Ingester on a pool of two connections whose application holds both
// (a burst of reports): Run waits for one to take the ingestion lock.
// Nothing is received yet, so Stop must end Run with nil at once, as it
// ends the wait for the lock itself (LockWait) and the wait for a
// connection to load the checkpoint right after
// (TestRV127StopEndsTheWaitForAPoolConnection): it waited under Run's
// context alone, until the application gave a connection back.
func TestRV138StopEndsTheWaitForAPoolConnectionToTakeTheLock(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)
	db.SetMaxOpenConns(2)

	app1, err := db.Conn(ctx)
	require.NoError(t, err)
	defer app1.Close()
	app2, err := db.Conn(ctx)
	require.NoError(t, err)
	defer app2.Close()
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"}, Logger: quietLog})
	require.NoError(t, err)
	done := runInBackground(t, ctx, ing)
	require.Eventually(t, func() bool { return db.Stats().WaitCount > 0 }, 10*time.Second, 10*time.Millisecond,
		"Run waits for a pool connection to take the lock")
	requireStopEndsRun(t, ing, done, "it waited for a pool connection to take the lock", func() { app1.Close() })
}
