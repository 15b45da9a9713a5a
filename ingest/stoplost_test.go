package ingest_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// downAfterCommitConnector loses the reply to the first COMMIT it sees
// once armed (the transaction commits on the server) and then refuses every
// new transaction and connection, as a database that went down right after
// it: the usual way a COMMIT reply is lost.
type downAfterCommitConnector struct {
	driver.Connector
	armed, down atomic.Bool
}

func (c *downAfterCommitConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.down.Load() {
		return nil, fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	}
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &downAfterCommitConn{Conn: conn, c: c}, nil
}

type downAfterCommitConn struct {
	driver.Conn
	c *downAfterCommitConnector
}

func (d *downAfterCommitConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if d.c.down.Load() {
		return nil, fmt.Errorf("begin: %w", syscall.ECONNREFUSED)
	}
	tx, err := d.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return downAfterCommitTx{Tx: tx, c: d.c}, nil
}

type downAfterCommitTx struct {
	driver.Tx
	c *downAfterCommitConnector
}

func (t downAfterCommitTx) Commit() error {
	if err := t.Tx.Commit(); err != nil {
		return err
	}
	if t.c.armed.CompareAndSwap(true, false) {
		t.c.down.Store(true)
		return fmt.Errorf("read reply to COMMIT: %w", io.ErrUnexpectedEOF)
	}
	return nil
}

// Stop while the database is down right after a batch's COMMIT whose reply
// was lost: the batch did commit. Run returns nil without knowing (90a5873),
// but it logged "stopped before the batch could commit; the next run
// ingests it again", which is false: the next run finds it committed and
// ingests none of it again (its transaction set aside there is never
// logged nor counted either). The log must say that the outcome is
// unknown.
func TestStopAfterALostCommitReplyDoesNotClaimTheBatchIsLost(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	base, err := pq.NewConnector(b.dsn)
	require.NoError(t, err)
	conn := &downAfterCommitConnector{Connector: base}
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	t.Cleanup(func() { db.Close() })
	var logs syncbuf.Buffer
	ing, err := ingest.New(db, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler, Lock: ingest.LockNone,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 20*time.Second, 5*time.Millisecond)

	end0 := b.p.LedgerEnd()
	conn.armed.Store(true)
	appendN(t, b.p, 20, 10)
	require.Eventually(t, func() bool { return ing.Stats().Errors["database"] >= 3 }, 20*time.Second, 5*time.Millisecond,
		"the batch's commit was not retried")
	ing.Stop()
	require.NoError(t, <-done)

	st := readState(t, b.db)
	require.Greater(t, st.Checkpoint.Offset, end0, "the batch whose reply was lost did not commit: the test did not inject what it meant to")
	require.NotContains(t, logs.String(), "the next run ingests it again", "said of a batch that had committed")
	require.True(t, strings.Contains(logs.String(), "may have committed"), "the log does not say that the batch's outcome is unknown:\n%s", logs.String())
}
