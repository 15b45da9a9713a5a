package ingest_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// rv56Rig runs an Ingester on a pool whose sessions end slowly: each has a
// temporary table that a session of the test keeps locked, and PostgreSQL
// drops a session's temporary tables, waiting for their locks, before it
// releases the session's advisory locks. A session the Ingester ends (rather
// than returning it to the pool) therefore keeps the ingestion lock after
// Run returned, every time, where it would otherwise keep it for the
// fraction of a millisecond PostgreSQL takes to end it. That is the window
// of the runbook's CheckStopped, recovery.Apply or a second Ingester run
// right after Run returned.
type rv56Rig struct {
	b     *testBundle // b.db is the slow-ending pool
	check *sqlx.DB    // the test's own sessions
	fc    *faultConnector
}

func newRV56Rig(t *testing.T, fc *faultConnector, slowExits bool) *rv56Rig {
	t.Helper()
	ctx := context.Background()
	b := setup(t)
	base, err := pq.NewConnector(b.dsn)
	require.NoError(t, err)
	fc.Connector = base
	var connector driver.Connector = fc
	if slowExits {
		connector = slowExitConnector{fc}
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "postgres")
	t.Cleanup(func() { db.Close() })
	const n = 4
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	// Open every session of the pool now, so that each has its table.
	var conns []*sql.Conn
	for range n {
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	check := b.db
	slow := *b
	slow.db = db
	r := &rv56Rig{b: &slow, check: check, fc: fc}
	if !slowExits {
		return r
	}
	holder, err := b.db.Beginx()
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Rollback() }) // before db.Close: lets the ended sessions go
	var schemas []string
	require.NoError(t, holder.Select(&schemas, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'rv56_exit'`))
	require.Len(t, schemas, n)
	for _, s := range schemas {
		_, err := holder.Exec(`LOCK TABLE ` + pq.QuoteIdentifier(s) + `.rv56_exit IN ACCESS SHARE MODE`)
		require.NoError(t, err)
	}
	return r
}

type slowExitConnector struct{ *faultConnector }

func (c slowExitConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.faultConnector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.(*faultConn).Conn.(driver.ExecerContext).ExecContext(ctx, `CREATE TEMP TABLE rv56_exit ()`, nil); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (c slowExitConnector) Driver() driver.Driver { return c.faultConnector.Driver() }

// requireOver checks, right after Run returned, that it is over: the
// ingestion lock is released on the server, and every connection is back
// in the pool.
func (r *rv56Rig) requireOver(t *testing.T, what string) {
	t.Helper()
	require.Empty(t, lockHolders(t, r.check), "%s: the ingestion lock is still held after Run returned", what)
	require.Zero(t, r.b.db.Stats().InUse, "%s: connections still in use after Run returned", what)
}

// requireGoroutines checks that Run's goroutines have ended (within a
// moment: grpc-go's own end just after the stream is cancelled).
func requireGoroutines(t *testing.T, before int, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%s: %d goroutines after Run returned, %d before:\n%s", what, n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestRV56RunIsOverWhenItReturns: whichever way Run returns, the ingestion
// lock is released on the server by then, its connections are back in the
// pool and its goroutines have ended: a supervisor runs the runbook's
// CheckStopped, recovery.Apply, a migration or a second Ingester right
// after Run returned. A cancellation of Run's context that reached a
// statement on the lock's own session (the check of the lock, its
// pg_try_advisory_lock, its set-up) made lib/pq end that session, and
// PostgreSQL dropped the lock only as it finished ending it, after Run had
// returned.
func TestRV56RunIsOverWhenItReturns(t *testing.T) {
	// cancel cancels the Run's context (set by the scenario).
	cancel := func(p *atomic.Pointer[context.CancelFunc]) {
		if f := p.Load(); f != nil {
			(*f)()
		}
	}
	// runWith runs an Ingester with cfg until it returns, calling during
	// (if not nil) meanwhile; p is set to cancel its context.
	runWith := func(t *testing.T, r *rv56Rig, cfg ingest.Config, p *atomic.Pointer[context.CancelFunc], during func(ing *ingest.Ingester)) error {
		ing := newIngester(t, r.b, cfg)
		ctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		p.Store(&c)
		done := make(chan error, 1)
		go func() { done <- ing.Run(ctx) }()
		if during != nil {
			during(ing)
		}
		return <-done
	}
	// armed: the scenario's hook cancels Run (those that fire once disarm).
	var armed atomic.Bool
	scenarios := []struct {
		name string
		fast bool // sessions end at once (the rig's slow ends would keep a terminated one's lock)
		fc   func(p *atomic.Pointer[context.CancelFunc]) *faultConnector
		run  func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error
	}{
		{"cancelled while the lock is checked", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{ping: func() {
				if armed.CompareAndSwap(true, false) {
					cancel(p)
				}
			}}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			armed.Store(true)
			return runWith(t, r, ingest.Config{}, p, nil)
		}},
		{"cancelled as the lock is granted", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{afterQuery: func(q string) {
				if strings.Contains(q, "pg_try_advisory_lock") && armed.CompareAndSwap(true, false) {
					cancel(p)
					time.Sleep(20 * time.Millisecond) // the cancellation comes first
				}
			}}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			armed.Store(true)
			return runWith(t, r, ingest.Config{}, p, nil)
		}},
		{"cancelled at the lock session's set-up", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{statement: func(q string) error {
				if strings.Contains(q, "idle_session_timeout") && armed.CompareAndSwap(true, false) {
					cancel(p)
				}
				return nil
			}}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			armed.Store(true)
			return runWith(t, r, ingest.Config{}, p, nil)
		}},
		{"cancelled while a standby", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			other, err := r.check.Conn(context.Background())
			require.NoError(t, err)
			_, err = other.ExecContext(context.Background(), `SELECT pg_advisory_lock($1, hashtext('txhistory'))`, 0x74786967)
			require.NoError(t, err)
			err = runWith(t, r, ingest.Config{LockPoll: 5 * time.Millisecond}, p, func(ing *ingest.Ingester) {
				require.Eventually(t, func() bool { return ing.Stats().State == ingest.StateWaitingForLock }, 10*time.Second, time.Millisecond)
				time.Sleep(30 * time.Millisecond)
				cancel(p)
			})
			_, uerr := other.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1, hashtext('txhistory'))`, 0x74786967)
			require.NoError(t, uerr)
			other.Close()
			return err
		}},
		{"cancelled while streaming", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			return runWith(t, r, ingest.Config{}, p, func(ing *ingest.Ingester) {
				require.Eventually(t, func() bool { return ing.Stats().Offset == r.b.p.LedgerEnd() }, 10*time.Second, time.Millisecond)
				cancel(p)
			})
		}},
		{"cancelled while the session checks the lock", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{ping: func() {
				if armed.Load() {
					cancel(p)
				}
			}}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			return runWith(t, r, ingest.Config{LockCheck: 2 * time.Millisecond}, p, func(ing *ingest.Ingester) {
				require.Eventually(t, func() bool { return ing.Stats().Offset == r.b.p.LedgerEnd() }, 10*time.Second, time.Millisecond)
				armed.Store(true)
			})
		}},
		{"cancelled mid-batch", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{statement: func(q string) error {
				if strings.Contains(q, "INSERT INTO effects") && armed.CompareAndSwap(true, false) {
					cancel(p)
				}
				return nil
			}}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			armed.Store(true)
			return runWith(t, r, ingest.Config{}, p, nil)
		}},
		{"cancelled during commit", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{afterCommit: func([]string) error {
				if armed.CompareAndSwap(true, false) {
					cancel(p)
				}
				return nil
			}}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			armed.Store(true)
			return runWith(t, r, ingest.Config{}, p, nil)
		}},
		{"cancelled in a retry's backoff", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			r.b.p.FailNext(ledgertest.MethodGetUpdates, 100, codes.Unavailable)
			return runWith(t, r, ingest.Config{MinBackoff: time.Second, MaxBackoff: 2 * time.Second}, p, func(ing *ingest.Ingester) {
				require.Eventually(t, func() bool { return ing.Stats().State == ingest.StateRetrying }, 10*time.Second, time.Millisecond)
				cancel(p)
			})
		}},
		{"a handler's fatal error", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			bad := treasuryTxs(r.b.p)[5].UpdateID
			err := runWith(t, r, ingest.Config{Handler: rejecting(bad, cannotApply)}, p, nil)
			require.ErrorContains(t, err, bad)
			return err
		}},
		{"a participant's fatal error", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			r.b.p.FailNext(ledgertest.MethodGetUpdates, 1, codes.PermissionDenied)
			err := runWith(t, r, ingest.Config{}, p, nil)
			require.Error(t, err)
			return err
		}},
		{"the lock lost, then cancelled", true, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			return runWith(t, r, ingest.Config{LockCheck: 5 * time.Millisecond}, p, func(ing *ingest.Ingester) {
				require.Eventually(t, func() bool { return ing.Stats().Offset == r.b.p.LedgerEnd() }, 10*time.Second, time.Millisecond)
				lost := killLockHolder(t, r.check)
				require.Eventually(t, func() bool { // taken again
					held := lockHolders(t, r.check)
					return len(held) == 1 && held[0] != lost
				}, 10*time.Second, time.Millisecond)
				cancel(p)
			})
		}},
		{"Stop", false, func(p *atomic.Pointer[context.CancelFunc]) *faultConnector {
			return &faultConnector{}
		}, func(t *testing.T, r *rv56Rig, p *atomic.Pointer[context.CancelFunc]) error {
			return runWith(t, r, ingest.Config{}, p, func(ing *ingest.Ingester) {
				require.Eventually(t, func() bool { return ing.Stats().Offset == r.b.p.LedgerEnd() }, 10*time.Second, time.Millisecond)
				ing.Stop()
			})
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var p atomic.Pointer[context.CancelFunc]
			armed.Store(false)
			r := newRV56Rig(t, sc.fc(&p), !sc.fast)
			appendN(t, r.b.p, 0, 20)
			_, err := r.b.client.LedgerEnd(context.Background()) // the client's connection is up
			require.NoError(t, err)
			before := runtime.NumGoroutine()
			err = sc.run(t, r, &p)
			r.requireOver(t, sc.name)
			t.Logf("%s: Run returned %v", sc.name, err)
			requireGoroutines(t, before, sc.name)
		})
	}
}
