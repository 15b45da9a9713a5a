package ingest_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// terminateAll ends every other session of db's database, as a database
// restart does, and returns how many it ended.
func terminateAll(t testing.TB, admin *sqlx.DB) int {
	t.Helper()
	var n int
	require.NoError(t, admin.Get(&n, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`))
	return n
}

func adminOf(t testing.TB, b *testBundle) *sqlx.DB {
	t.Helper()
	admin, err := sqlx.Open("postgres", b.dsn)
	require.NoError(t, err)
	admin.SetMaxOpenConns(1)
	t.Cleanup(func() { admin.Close() })
	return admin
}

// The ordinary paths after today's changes to the pool waits: a catch-up
// whose database sessions are all ended several times (a restart), with
// and without a pool limit, with the lock and without, pipelined (a limit
// of 3 or more) and not (2). Run reaches EndOffset with nil, every
// transaction once, and leaves no lock behind.
func TestRV141RestartsDuringCatchUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		lock  ingest.LockPolicy
	}{
		{"unlimited", 0, ingest.LockWait},
		{"limit2-unpipelined", 2, ingest.LockWait},
		{"limit3-pipelined", 3, ingest.LockWait},
		{"limit5-pipelined", 5, ingest.LockFail},
		{"locknone-unlimited", 0, ingest.LockNone},
		{"locknone-limit3", 3, ingest.LockNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t)
			appendN(t, b.p, 0, 600)
			b.db.SetMaxOpenConns(tc.limit)
			admin := adminOf(t, b)
			var batches atomic.Int64
			h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
				batches.Add(1)
				time.Sleep(2 * time.Millisecond)
				return effectsHandler(ctx, tx, bt)
			})
			ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, Lock: tc.lock, MaxAttempts: 20,
				LockCheck: 200 * time.Millisecond, EndOffset: b.p.LedgerEnd()})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- ing.Run(ctx) }()
			var ended int
			for i := 0; i < 5; i++ {
				at := batches.Load()
				require.Eventually(t, func() bool { return batches.Load() >= at+3 }, 20*time.Second, time.Millisecond, "restart %d", i)
				ended += terminateAll(t, admin)
			}
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Fatalf("Run did not reach EndOffset after the restarts: %+v", ing.Stats())
			}
			require.Positive(t, ended)
			require.Positive(t, ing.Stats().Errors["database"], "the ended sessions were met and retried")
			requireAllOnce(t, b)
			require.Empty(t, lockHolders(t, admin))
		})
	}
}

// A standby on a pool with a limit takes over when the active ingester
// stops, and one whose sessions a restart ended takes the lock again.
func TestRV141StandbyOnALimitedPoolTakesOver(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	appendN(t, b.p, 0, 40)
	admin := adminOf(t, b)
	pool2, err := sqlx.Open("postgres", b.dsn)
	require.NoError(t, err)
	defer pool2.Close()
	b.db.SetMaxOpenConns(3)
	pool2.SetMaxOpenConns(3)
	cfg := ingest.Config{LockCheck: 50 * time.Millisecond, LockPoll: 10 * time.Millisecond}
	first := newIngester(t, b, cfg)
	done1 := make(chan error, 1)
	go func() { done1 <- first.Run(context.Background()) }()
	require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)

	b2 := *b
	b2.db = pool2
	second := newIngester(t, &b2, cfg)
	done2 := make(chan error, 1)
	go func() { done2 <- second.Run(context.Background()) }()
	require.Eventually(t, func() bool { return second.Stats().State == ingest.StateWaitingForLock }, 10*time.Second, 5*time.Millisecond)
	first.Stop()
	require.NoError(t, <-done1)
	appendN(t, b.p, 40, 20)
	require.Eventually(t, func() bool { return second.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)

	terminateAll(t, admin)
	appendN(t, b.p, 60, 20)
	require.Eventually(t, func() bool { return second.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(lockHolders(t, admin)) == 1 }, 10*time.Second, 5*time.Millisecond,
		"the lock is taken again after the restart")
	second.Stop()
	require.NoError(t, <-done2)
	requireAllOnce(t, b)
	require.Empty(t, lockHolders(t, admin))
}

// Stop during a catch-up on a limited pool, pipelined or not: Run returns
// nil, what it committed is whole (every transaction up to the stored
// checkpoint applied once, none after it), and Stats agree with the store.
func TestRV141StopDuringCatchUpOnALimitedPool(t *testing.T) {
	for _, limit := range []int{0, 2, 3} {
		t.Run(fmt.Sprint("limit", limit), func(t *testing.T) {
			b := setup(t)
			appendN(t, b.p, 0, 2000)
			b.db.SetMaxOpenConns(limit)
			var batches atomic.Int64
			slow := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
				batches.Add(1)
				time.Sleep(10 * time.Millisecond)
				return effectsHandler(ctx, tx, bt)
			})
			ing := newIngester(t, b, ingest.Config{Handler: slow, MaxBatchSize: 10})
			done := make(chan error, 1)
			go func() { done <- ing.Run(context.Background()) }()
			require.Eventually(t, func() bool { return batches.Load() >= 3 }, 30*time.Second, time.Millisecond)
			ing.Stop()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after Stop")
			}
			cp := readState(t, b.db).Checkpoint
			require.Less(t, cp.Offset, b.p.LedgerEnd())
			require.Equal(t, cp.Offset, ing.Stats().Offset)
			var rows, distinct int
			var last int64
			require.NoError(t, b.db.QueryRow(`SELECT count(*), count(DISTINCT update_id), coalesce(max(ledger_offset), 0) FROM effects`).Scan(&rows, &distinct, &last))
			require.Equal(t, distinct, rows)
			require.LessOrEqual(t, last, cp.Offset)
			want := 0
			for _, tx := range treasuryTxs(b.p) {
				if tx.Offset <= cp.Offset {
					want++
				}
			}
			require.Equal(t, want, rows, "the transactions up to the checkpoint, each once")
		})
	}
}

// Cancelling Run's context ends Run with the context's error (never nil,
// never the internal "stopped") wherever Run waits: for the lock (a
// standby), for a pool connection to take the lock, for one to load the
// checkpoint, in a catch-up, and in a retry's backoff.
func TestRV141CancelEndsRunWithTheContextsError(t *testing.T) {
	check := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		require.ErrorIs(t, err, context.Canceled)
		require.NotContains(t, err.Error(), "ingest: stopped")
	}
	run := func(ing *ingest.Ingester) (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- ing.Run(ctx) }()
		return cancel, done
	}
	wait := func(t *testing.T, done chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context was cancelled")
			return nil
		}
	}

	t.Run("standby", func(t *testing.T) {
		b := setup(t)
		appendN(t, b.p, 0, 20)
		b.db.SetMaxOpenConns(3)
		first := newIngester(t, b, ingest.Config{})
		cancel1, done1 := run(first)
		require.Eventually(t, func() bool { return first.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
		second := newIngester(t, b, ingest.Config{LockPoll: 10 * time.Millisecond})
		cancel2, done2 := run(second)
		require.Eventually(t, func() bool { return second.Stats().State == ingest.StateWaitingForLock }, 10*time.Second, 5*time.Millisecond)
		cancel2()
		check(t, wait(t, done2))
		cancel1()
		check(t, wait(t, done1))
	})

	t.Run("pool connection for the lock", func(t *testing.T) {
		b := setup(t)
		b.db.SetMaxOpenConns(2)
		ctx := context.Background()
		app1, err := b.db.Conn(ctx)
		require.NoError(t, err)
		defer app1.Close()
		app2, err := b.db.Conn(ctx)
		require.NoError(t, err)
		defer app2.Close()
		ing := newIngester(t, b, ingest.Config{})
		cancel, done := run(ing)
		require.Eventually(t, func() bool { return b.db.Stats().WaitCount > 0 }, 10*time.Second, 5*time.Millisecond)
		cancel()
		check(t, wait(t, done))
	})

	t.Run("pool connection for the checkpoint", func(t *testing.T) {
		b := setup(t)
		b.db.SetMaxOpenConns(2)
		app, err := b.db.Conn(context.Background())
		require.NoError(t, err)
		defer app.Close()
		ing := newIngester(t, b, ingest.Config{LockCheck: 50 * time.Millisecond})
		cancel, done := run(ing)
		require.Eventually(t, func() bool { return b.db.Stats().WaitCount > 2 }, 10*time.Second, 5*time.Millisecond,
			"Run waits on (the application holds the other connection)")
		cancel()
		check(t, wait(t, done))
	})

	t.Run("catch-up", func(t *testing.T) {
		for _, limit := range []int{0, 3} {
			b := setup(t)
			appendN(t, b.p, 0, 2000)
			b.db.SetMaxOpenConns(limit)
			var batches atomic.Int64
			slow := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
				batches.Add(1)
				time.Sleep(5 * time.Millisecond)
				return effectsHandler(ctx, tx, bt)
			})
			ing := newIngester(t, b, ingest.Config{Handler: slow, MaxBatchSize: 10})
			cancel, done := run(ing)
			require.Eventually(t, func() bool { return batches.Load() >= 3 }, 30*time.Second, time.Millisecond)
			cancel()
			check(t, wait(t, done))
			requireNoDuplicateEffects(t, b)
		}
	})

	t.Run("pool connection for a batch", func(t *testing.T) {
		b := setup(t)
		appendN(t, b.p, 0, 3000) // a backlog that outlasts the application's grab
		b.db.SetMaxOpenConns(3)
		var batches atomic.Int64
		held := make(chan *sql.Conn, 2)
		h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
			if batches.Add(1) == 3 {
				// The application takes the two connections the lock
				// leaves, as the batches give them back.
				for range 2 {
					go func() {
						c, err := b.db.Conn(context.Background())
						if err == nil {
							held <- c
						}
					}()
				}
			}
			return effectsHandler(ctx, tx, bt)
		})
		ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 5, LockCheck: 50 * time.Millisecond})
		cancel, done := run(ing)
		var app []*sql.Conn
		for range 2 {
			select {
			case c := <-held:
				app = append(app, c)
			case <-time.After(10 * time.Second):
				t.Fatal("the application did not get its connections")
			}
		}
		defer func() {
			for _, c := range app {
				c.Close()
			}
		}()
		// The next batch waits for a connection, in awaitPoolConn (looking
		// again every LockCheck) or in its BEGIN, where the pool queues it
		// behind the application.
		time.Sleep(200 * time.Millisecond)
		require.Equal(t, 3, b.db.Stats().InUse)
		cancel()
		check(t, wait(t, done))
		requireNoDuplicateEffects(t, b)
	})

	t.Run("backoff", func(t *testing.T) {
		b := setup(t)
		appendN(t, b.p, 0, 20)
		b.db.SetMaxOpenConns(3)
		var fail atomic.Bool
		fail.Store(true)
		var calls atomic.Int64
		h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
			calls.Add(1)
			if fail.Load() {
				// A database fault: the batch is retried with backoff.
				_, err := tx.ExecContext(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
				return err
			}
			return effectsHandler(ctx, tx, bt)
		})
		ing := newIngester(t, b, ingest.Config{Handler: h, MinBackoff: time.Second, MaxBackoff: time.Second})
		cancel, done := run(ing)
		require.Eventually(t, func() bool { return ing.Stats().State == ingest.StateRetrying }, 10*time.Second, time.Millisecond)
		cancel()
		check(t, wait(t, done))
	})
}

func requireNoDuplicateEffects(t testing.TB, b *testBundle) {
	t.Helper()
	var dup []string
	require.NoError(t, b.db.Select(&dup, `SELECT update_id FROM effects GROUP BY update_id HAVING count(*) > 1`))
	require.Empty(t, dup)
}
