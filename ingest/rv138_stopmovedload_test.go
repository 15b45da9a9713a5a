package ingest_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// One Ingester on a pool of two connections it shares with a busy
// application. While it holds the lock, a batch meets the checkpoint moved
// (here by its Handler, in the batch's own transaction: as the ingester
// the lock was taken from would have), and Run reads the checkpoint again
// to resume from it. The application took the connection the failed batch
// gave back, so that read waits for one. Nothing is received since, so
// Stop must end Run with nil at once, as it ends the checkpoint's load
// when Run starts or takes the lock again
// (TestRV132StopEndsTheCheckpointLoadsWaitForAPoolConnection): the read
// after the conflict waited under Run's context alone, until the
// application gave its connection back.
func TestRV138StopEndsTheReadOfAMovedCheckpointWaitingForAPoolConnection(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)
	db.SetMaxOpenConns(2)

	var armed atomic.Bool
	entered, gate := make(chan struct{}), make(chan struct{})
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		if !armed.CompareAndSwap(true, false) {
			return nil
		}
		close(entered)
		<-gate
		_, err := tx.ExecContext(ctx, `UPDATE txhistory.checkpoint SET ledger_offset = ledger_offset + 1`)
		return err
	})
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"}, Handler: h,
		LockCheck: 10 * time.Second, Logger: quietLog})
	require.NoError(t, err)
	done := runInBackground(t, ctx, ing)
	require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 10*time.Second, 10*time.Millisecond)

	armed.Store(true)
	_, err = p.Append(w.Mint("hot::1", "11"))
	require.NoError(t, err)
	<-entered
	// The batch's transaction holds the pool's other connection: the
	// application waits for it, and gets it as the batch fails.
	waits := db.Stats().WaitCount
	appc := make(chan *sql.Conn, 1)
	go func() {
		c, err := db.Conn(ctx)
		if err != nil {
			c = nil
		}
		appc <- c
	}()
	require.Eventually(t, func() bool { return db.Stats().WaitCount > waits }, 10*time.Second, 10*time.Millisecond)
	waits = db.Stats().WaitCount
	close(gate)
	app := <-appc
	require.NotNil(t, app)
	defer app.Close()
	require.Eventually(t, func() bool { return db.Stats().WaitCount > waits }, 10*time.Second, 10*time.Millisecond,
		"the read of the moved checkpoint waits for a pool connection")
	requireStopEndsRun(t, ing, done, "the read of the moved checkpoint waited for a pool connection", func() { app.Close() })
}
