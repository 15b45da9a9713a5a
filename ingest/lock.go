package ingest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
)

// LockPolicy says what an Ingester does when another one already ingests
// into the same schema.
type LockPolicy int

const (
	// LockWait (the default) waits until the other ingester stops, then takes over.
	LockWait LockPolicy = iota
	// LockFail makes Run return ErrAnotherIngester at once.
	LockFail
	// LockNone takes no lock. The checkpoint's optimistic check still stops
	// the second of two concurrent writers with checkpoint.ErrConflict (an
	// Ingester without the lock stops; one holding it resumes from the
	// moved checkpoint, see Config.LockCheck). A batch whose COMMIT
	// succeeded but whose reply was lost is recognised on its retry, with or
	// without the lock, by the stored checkpoint being its own.
	LockNone
)

// ErrAnotherIngester is returned by Run under LockFail when another process
// holds the ingestion lock of the schema.
var ErrAnotherIngester = errors.New("ingest: another ingester is running on this schema (PostgreSQL advisory lock held)")

// lockKey is the advisory lock of a schema: two 32-bit keys, the first
// fixed for txhistory ingestion, the second derived from the schema name in
// SQL (hashtext), so that schemas of one database lock independently.
const lockClass = 0x74786967 // "txig"

// instanceLock is a session-level advisory lock held on its own connection
// for as long as the Ingester runs.
type instanceLock struct {
	conn   *sql.Conn
	schema string
	pool   *sql.DB
}

// poolLocks counts, per pool, the ingestion locks of this process that
// hold one of its connections (Ingesters sharing a pool, one per schema).
var poolLocks = struct {
	sync.Mutex
	n map[*sql.DB]int
}{n: map[*sql.DB]int{}}

// locksOn returns how many ingestion locks of this process hold a
// connection of pool.
func locksOn(pool *sql.DB) int {
	poolLocks.Lock()
	defer poolLocks.Unlock()
	return poolLocks.n[pool]
}

func (ing *Ingester) acquireLock(ctx context.Context) (*instanceLock, error) {
	if ing.cfg.Lock == LockNone {
		return nil, nil
	}
	logged := false
	for attempt := 1; ; attempt++ {
		// Nothing is received yet: Stop ends the wait for a pool
		// connection (the application may hold every one), as it ends
		// the wait for the lock below. The pool's connector may be the
		// exchange's (a wrapper of lib/pq's), which may panic:
		// cancelAtStop is deferred, or its goroutine would wait for a
		// Stop or the end of ctx after the panic reached Run's caller.
		var conn *sql.Conn
		var stopped bool
		err := func() (err error) {
			cctx, cancelAtStop := ing.untilStop(ctx)
			defer cancelAtStop()
			conn, err = liveConn(cctx, ctx, ing.db.DB)
			stopped = err != nil && cctx.Err() != nil && ctx.Err() == nil
			return err
		}()
		if stopped {
			return nil, errStopped
		}
		if err == nil {
			var got bool
			// Not under ctx (lockSessionCtx): the lock may be granted as
			// ctx ends.
			sctx, cancel := lockSessionCtx(ctx)
			err = conn.QueryRowContext(sctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, lockClass, ing.cfg.Schema).Scan(&got)
			if err == nil && got {
				// The session sits idle holding the lock: an
				// idle_session_timeout of the role or database
				// (PostgreSQL 14 and later) would end it, and the lock
				// with it. Off for this session only.
				_, err = conn.ExecContext(sctx, `SELECT set_config(name, '0', false) FROM pg_settings WHERE name = 'idle_session_timeout'`)
			}
			cancel()
			if err == nil && got {
				if logged {
					ing.log.Info("ingest: took over the ingestion lock", "schema", ing.cfg.Schema)
				}
				poolLocks.Lock()
				poolLocks.n[ing.db.DB]++
				poolLocks.Unlock()
				return &instanceLock{conn: conn, schema: ing.cfg.Schema, pool: ing.db.DB}, nil
			}
			if err != nil {
				// The lock may have been granted before the reply was
				// lost: end the session rather than pool it.
				discardConn(conn)
			}
			conn.Close()
			if err == nil {
				if ing.cfg.Lock == LockFail {
					return nil, fmt.Errorf("%w: schema %s", ErrAnotherIngester, ing.cfg.Schema)
				}
				ing.stats.setState(StateWaitingForLock)
				// A standby: the checkpoint is the active ingester's
				// to move (LedgerEndLag reads the stored one).
				ing.stats.loaded.Store(false)
				if !logged {
					ing.log.Warn("ingest: another ingester holds the lock of this schema; waiting for it to stop", "schema", ing.cfg.Schema)
					logged = true
				}
				attempt = 0
			}
		}
		if err != nil && !IsTransientDBError(err) {
			return nil, fmt.Errorf("ingest: take ingestion lock: %w", redactErr(err))
		}
		wait := ing.cfg.LockPoll
		if err != nil {
			// A database fault like a batch's, counted as each attempt
			// fails (the last too: Run counts none of these errors), so
			// that Stats.Errors moves for as long as the database is down.
			ing.stats.errorOf(err)
			if ing.cfg.MaxAttempts > 0 && attempt >= ing.cfg.MaxAttempts {
				return nil, fmt.Errorf("ingest: take ingestion lock: giving up after %d attempts: %w", attempt, redactErr(err))
			}
			wait = ing.backoff(attempt)
			ing.log.Warn("ingest: database unavailable while taking the lock, retrying", "attempt", attempt, "in", wait, "err", redactErr(err))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ing.stopCh:
			return nil, errStopped
		case <-time.After(wait):
		}
	}
}

var errStopped = errors.New("ingest: stopped")

// lockSessionCtx is the context of a statement on the lock's session:
// ctx's values and a timeout, not its cancellation. lib/pq ends the session
// of a statement whose context ends while it runs, and with it the lock,
// which PostgreSQL then drops only once it has ended the session: after
// Run has returned, where a supervisor's next step (the runbook's
// CheckStopped, recovery.Apply, another Ingester) would still find it
// held. Run's deferred release unlocks it instead.
func lockSessionCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// healthy reports whether the lock's connection (and so the lock) is still
// there; a PostgreSQL restart drops it.
func (l *instanceLock) healthy(ctx context.Context) bool {
	if l == nil {
		return true
	}
	ctx, cancel := lockSessionCtx(ctx)
	defer cancel()
	return l.conn.PingContext(ctx) == nil
}

func (l *instanceLock) release() {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var unlocked bool
	_ = l.conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, lockClass, l.schema).Scan(&unlocked)
	// Closing a sql.Conn returns its session to the pool, the lock with it
	// if the unlock did not get through, and idle_session_timeout off
	// (acquireLock) whether or not: end the session.
	discardConn(l.conn)
	l.conn.Close()
	poolLocks.Lock()
	if poolLocks.n[l.pool]--; poolLocks.n[l.pool] <= 0 {
		delete(poolLocks.n, l.pool)
	}
	poolLocks.Unlock()
}

// discardConn marks conn bad, so that closing it ends its session instead
// of returning it to the pool (a driver.ErrBadConn from Raw does that).
func discardConn(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}

// liveConn takes a connection of db whose session is there. database/sql
// retries a statement of the pool's own on another session when lib/pq
// finds its session ended, but hands a connection out of the pool as it
// is: a DBA's idle_session_timeout ends the pool's idle sessions, which
// lib/pq notices only at their next use ("driver: bad connection"), or as
// the statement reaches the server ("connection reset by peer"). A ping
// finds such a session, as each of the pool's idle connections may be,
// and another is taken, as database/sql would, rather than the lock's
// attempt failing as a database fault. wait bounds the wait for a pool
// connection (Stop ends it); the ping is a statement on the lock's
// session, under lockSessionCtx(ctx): a Stop that cut it short would
// make lib/pq report the session bad (its Ping says "bad connection"
// whatever failed), and a pending Stop end the attempt that fails first
// (LockFail's ErrAnotherIngester), which is to leave the Stop for the
// next Run.
func liveConn(wait, ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	for retries := db.Stats().Idle + 1; ; retries-- {
		conn, err := db.Conn(wait)
		if err != nil {
			return nil, err
		}
		pctx, cancel := lockSessionCtx(ctx)
		err = conn.PingContext(pctx)
		cancel()
		if err == nil {
			return conn, nil
		}
		ended := errors.Is(err, driver.ErrBadConn) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
			errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if ended {
			discardConn(conn)
		}
		_ = conn.Close()
		if !ended || retries <= 0 || wait.Err() != nil {
			return nil, err
		}
	}
}

// ErrPoolExhausted: while the ingestion lock held one of the pool's
// connections, no other came free within Config.LockCheck (LockCheckDefault
// if it is negative) of the limit the pool allows. Other holders keep the
// rest for good: most often the locks of other Ingesters sharing the pool
// (one per schema), each of which holds a connection for as long as it
// runs, so that none has one for its batches. Run fails with it rather than
// wait for ever, but only while the ingestion locks of this process hold
// every connection the pool allows: a connection another user of the pool
// (the application) holds comes back, and is waited for as any pool user
// does. Not retried; Run's error wraps it, to match with errors.Is.
var ErrPoolExhausted = errors.New("ingest: no database connection came free while the ingestion lock holds one")

// awaitPoolConn waits until a connection of a pool with a limit is free
// for what the Ingester does beside its lock (the checkpoint's load, a
// batch), no longer than Config.LockCheck: every other connection may be
// held for good, by the locks of other Ingesters on the same pool. The
// connection goes back to the pool at once; the caller takes one the
// usual way, which another user may take first, making it wait as any
// pool does. At the end of the wait, if the ingestion locks of this
// process on the pool leave one of its connections to others, that one
// comes free once its holder is done: wait on, without bound, looking at
// the limit and the locks again every Config.LockCheck (the application
// may lower the limit, another Ingester take a lock, meanwhile).
func (ing *Ingester) awaitPoolConn(ctx context.Context) error {
	if ing.lock == nil || ing.db.Stats().MaxOpenConnections == 0 {
		return nil
	}
	wait := ing.cfg.LockCheck
	if wait <= 0 {
		wait = LockCheckDefault
	}
	for warned := false; ; warned = true {
		err := ing.freeConnWithin(ctx, wait)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// Before the checkpoint's load, ctx ends at Stop too
			// (loadCheckpointBeforeStream).
			return err
		}
		st := ing.db.Stats()
		max, locks := st.MaxOpenConnections, locksOn(ing.db.DB)
		if max == 0 {
			return nil // the limit lifted meanwhile
		}
		if !errors.Is(err, context.DeadlineExceeded) || st.OpenConnections < max {
			// Not the pool's limit but a database fault: one gone down
			// since the lock was taken, or one that does not answer (a
			// dial timing out matches DeadlineExceeded too, but the pool
			// had room for it). The caller's statements meet it and
			// retry it as they retry any (loadCheckpoint, commit).
			return nil
		}
		if locks >= max {
			return fmt.Errorf("%w: none of the %d the pool allows came free within %v, %d of them held by ingestion locks (schema %s): the lock holds one for as long as Run runs, and "+
				"every Ingester sharing the pool holds one the same way; give each Ingester a pool of its own, or allow 2 connections per "+
				"Ingester (3 to overlap batches) beside what else uses the pool", ErrPoolExhausted, max, wait, locks, ing.cfg.Schema)
		}
		if !warned {
			ing.log.Warn("ingest: waiting for a database connection; the pool's other users hold them", "pool_max", max, "ingestion_locks", locks, "waited", wait, "schema", ing.cfg.Schema)
		}
	}
}

// freeConnWithin waits no longer than wait for a connection of the pool
// that is free for the Ingester, and gives it back at once.
func (ing *Ingester) freeConnWithin(ctx context.Context, wait time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	conn, err := ing.db.Conn(wctx)
	for err == nil {
		_ = conn.Close() // back to the pool
		if m := ing.db.Stats().MaxOpenConnections; m == 0 || locksOn(ing.db.DB) < m {
			return nil
		}
		// The locks hold every connection the pool allows: this one was
		// above a limit lowered since it was opened (SetMaxOpenConns),
		// and the pool closed it as it came back. Wait on for another.
		conn, err = ing.db.Conn(wctx)
	}
	return err
}

// loadCheckpointBeforeStream waits for a pool connection (awaitPoolConn)
// and loads the checkpoint under a context that ends at Stop too: nothing
// is received yet, so Stop ends both (errStopped), as it ends the calls to
// the participant before the stream opens (session). The load's own
// statements may wait for a connection as well: another user of the pool
// may take the one awaitPoolConn gave back.
func (ing *Ingester) loadCheckpointBeforeStream(ctx context.Context) (checkpoint.Checkpoint, error) {
	sctx, cancelAtStop := ing.untilStop(ctx)
	defer cancelAtStop()
	err := ing.awaitPoolConn(sctx)
	var cp checkpoint.Checkpoint
	if err == nil {
		cp, err = ing.loadCheckpoint(sctx)
	}
	if err != nil && sctx.Err() != nil && ctx.Err() == nil {
		return cp, errStopped
	}
	return cp, err
}
