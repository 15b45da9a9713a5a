package ingest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// The per-pool count of ingestion locks (locksOn), which decides between
// waiting on and ErrPoolExhausted, follows the locks held: two Ingesters
// running at once on one pool count two; a third refused the lock
// (LockFail) or a standby waiting for it (LockWait) counts none; a lock
// the database dropped and Run took again counts once; every Run returned,
// none.
func TestRV138PoolLockCountFollowsTheLocks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	for _, s := range []string{"hot", "cold"} {
		require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema(s)))
	}
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond))
	require.NoError(t, err)
	defer p.Close()
	var w ledgertest.TokenWorld
	_, err = p.Append(w.Mint("hot::1", "10"), w.Mint("cold::1", "10"))
	require.NoError(t, err)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer client.Close()
	db.SetMaxOpenConns(5)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	newIng := func(party, sch string, lock LockPolicy) *Ingester {
		ing, err := New(db, client, Config{Parties: []string{party}, Schema: sch, Lock: lock,
			LockCheck: 50 * time.Millisecond, LockPoll: 20 * time.Millisecond, Logger: quiet})
		require.NoError(t, err)
		return ing
	}
	run := func(ing *Ingester) chan error {
		done := make(chan error, 1)
		go func() { done <- ing.Run(ctx) }()
		return done
	}
	hot, cold := newIng("hot::1", "hot", LockWait), newIng("cold::1", "cold", LockWait)
	hotDone, coldDone := run(hot), run(cold)
	require.Eventually(t, func() bool {
		return hot.Stats().State == StateStreaming && cold.Stats().State == StateStreaming
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 2, locksOn(db.DB))

	require.ErrorIs(t, newIng("hot::1", "hot", LockFail).Run(ctx), ErrAnotherIngester)
	require.Equal(t, 2, locksOn(db.DB), "a lock refused counted")
	standby := newIng("cold::1", "cold", LockWait)
	standbyDone := run(standby)
	require.Eventually(t, func() bool { return standby.Stats().State == StateWaitingForLock }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 2, locksOn(db.DB), "a standby counted")

	// The database ends hot's lock session: hot takes the lock again.
	var pid int
	require.NoError(t, db.GetContext(ctx, &pid, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = hashtext('hot')::oid
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, lockClass))
	_, err = db.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n int
		return db.GetContext(ctx, &n, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = hashtext('hot')::oid AND pid <> $2`, lockClass, pid) == nil && n == 1
	}, 10*time.Second, 5*time.Millisecond, "hot takes its lock again")
	require.Eventually(t, func() bool { return hot.Stats().State == StateStreaming }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 2, locksOn(db.DB), "the lock taken again counted twice, or the lost one not released")

	cold.Stop()
	require.NoError(t, <-coldDone)
	require.Eventually(t, func() bool { return standby.Stats().State == StateStreaming }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 2, locksOn(db.DB), "the standby's lock taken over")
	hot.Stop()
	standby.Stop()
	require.NoError(t, <-hotDone)
	require.NoError(t, <-standbyDone)
	require.Zero(t, locksOn(db.DB))
}
