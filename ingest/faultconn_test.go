package ingest_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// faultConnector connects to PostgreSQL through lib/pq and lets a test
// inject the faults of a database connection where it wants them. Every
// hook is optional; one left nil injects nothing.
type faultConnector struct {
	driver.Connector

	// connect runs before each new connection is dialled: an error refuses
	// the connection.
	connect func() error
	// begin runs before each BEGIN: an error fails it.
	begin func() error
	// statement runs before each statement (Exec and Query), with its
	// text: an error fails it without sending it.
	statement func(query string) error
	// afterCommit runs after each COMMIT that succeeded on the server, with
	// the statements executed (Exec) in its transaction: an error is what
	// the caller gets instead of the reply, which was lost.
	afterCommit func(execs []string) error
	// afterQuery runs after each query (Query) that the server answered,
	// with its text, before the caller reads the answer.
	afterQuery func(query string)
	// ping runs before each Ping (database/sql's PingContext).
	ping func()
}

// withFaults returns a copy of b whose database connections go through fc,
// on b's database; the copy's pool is closed in t.Cleanup.
func withFaults(t testing.TB, b *testBundle, fc *faultConnector) *testBundle {
	t.Helper()
	base, err := pq.NewConnector(b.dsn)
	require.NoError(t, err)
	fc.Connector = base
	db := sqlx.NewDb(sql.OpenDB(fc), "postgres")
	t.Cleanup(func() { db.Close() })
	faulty := *b
	faulty.db = db
	return &faulty
}

// errReplyLost is the error of a COMMIT whose reply did not arrive: the
// connection broke between the COMMIT and its reply.
func errReplyLost() error {
	return fmt.Errorf("read reply to COMMIT: %w", io.ErrUnexpectedEOF)
}

func (c *faultConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.connect != nil {
		if err := c.connect(); err != nil {
			return nil, err
		}
	}
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: conn, c: c}, nil
}

type faultConn struct {
	driver.Conn
	c     *faultConnector
	execs []string // the statements executed since the last BEGIN
}

func (f *faultConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if f.c.statement != nil {
		if err := f.c.statement(query); err != nil {
			return nil, err
		}
	}
	f.execs = append(f.execs, query)
	return f.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (f *faultConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if f.c.statement != nil {
		if err := f.c.statement(query); err != nil {
			return nil, err
		}
	}
	rows, err := f.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	if err == nil && f.c.afterQuery != nil {
		f.c.afterQuery(query)
	}
	return rows, err
}

// Ping, ResetSession and IsValid are lib/pq's: without them database/sql
// takes every connection for alive (a PingContext on a terminated session
// succeeds) and pools a broken one again.
func (f *faultConn) Ping(ctx context.Context) error {
	if f.c.ping != nil {
		f.c.ping()
	}
	return f.Conn.(driver.Pinger).Ping(ctx)
}

func (f *faultConn) ResetSession(ctx context.Context) error {
	return f.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (f *faultConn) IsValid() bool { return f.Conn.(driver.Validator).IsValid() }

func (f *faultConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if f.c.begin != nil {
		if err := f.c.begin(); err != nil {
			return nil, err
		}
	}
	tx, err := f.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	f.execs = nil
	return faultTx{Tx: tx, conn: f}, nil
}

type faultTx struct {
	driver.Tx
	conn *faultConn
}

func (t faultTx) Commit() error {
	if err := t.Tx.Commit(); err != nil {
		return err
	}
	if t.conn.c.afterCommit != nil {
		return t.conn.c.afterCommit(t.conn.execs)
	}
	return nil
}

// lostReply counts the COMMITs that succeed and loses the reply to the
// failAt-th of them (never while failAt is 0 or negative): its
// afterCommit is a faultConnector's.
type lostReply struct {
	commits, failAt atomic.Int64
	lost            atomic.Bool // a reply was lost
}

func (l *lostReply) afterCommit([]string) error {
	if l.commits.Add(1) == l.failAt.Load() {
		l.lost.Store(true)
		return errReplyLost()
	}
	return nil
}

// loseNth loses the reply to the nth COMMIT from now on (1: the next).
func (l *lostReply) loseNth(n int64) { l.failAt.Store(l.commits.Load() + n) }
