package ingest_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// One Ingester on a pool of two connections it shares with the
// application, which holds the other one (a long report). Run takes the
// lock and waits for a connection to load the checkpoint: nothing is
// received yet, so Stop must end Run with nil at once, as it ends the
// other waits before the stream opens. It waited out LockCheck, then for
// the application's connection without bound: a graceful shutdown ran
// into its timeout.
func TestRV127StopEndsTheWaitForAPoolConnection(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)
	db.SetMaxOpenConns(2)

	app, err := db.Conn(ctx)
	require.NoError(t, err)
	defer app.Close()

	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"},
		LockCheck: 10 * time.Second, Logger: quietLog})
	require.NoError(t, err)
	done := runInBackground(t, ctx, ing)
	// The lock taken, Run waits for the pool.
	require.Eventually(t, func() bool { return db.Stats().WaitCount > 0 }, 10*time.Second, 10*time.Millisecond)
	requireStopEndsRun(t, ing, done, "it waited for a pool connection", func() { app.Close() })
}
