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
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// asideReplyConnector loses the reply to the first COMMIT of a SQL
// transaction that wrote to the review table: it commits on the server,
// the caller is told the connection broke.
type asideReplyConnector struct {
	driver.Connector
	lost atomic.Bool
}

func (c *asideReplyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &asideReplyConn{Conn: conn, c: c}, nil
}

type asideReplyConn struct {
	driver.Conn
	c     *asideReplyConnector
	aside bool // the open transaction wrote to the review table
}

func (a *asideReplyConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if strings.Contains(query, "review_transaction") {
		a.aside = true
	}
	return a.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (a *asideReplyConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := a.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	a.aside = false
	return asideReplyTx{Tx: tx, conn: a}, nil
}

type asideReplyTx struct {
	driver.Tx
	conn *asideReplyConn
}

func (t asideReplyTx) Commit() error {
	if err := t.Tx.Commit(); err != nil {
		return err
	}
	if t.conn.aside && t.conn.c.lost.CompareAndSwap(false, true) {
		return fmt.Errorf("read reply to COMMIT: %w", io.ErrUnexpectedEOF)
	}
	return nil
}

// A batch that set a transaction aside, and whose COMMIT reply was lost,
// is recognised as committed on its retry: the transaction set aside must
// still be logged and counted (Stats.SetAside), as for any batch that sets
// one aside; it is what an operator's alert watches. The Ingester dropped
// the notes of the attempt that committed: the set-aside transaction was
// neither logged nor counted.
func TestSetAsideCountedWhenTheCommitReplyIsLost(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	txs := treasuryTxs(b.p)
	rejected := txs[len(txs)/2].UpdateID
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
		for _, x := range batch.Transactions {
			if x.UpdateID == rejected {
				return fmt.Errorf("handler cannot apply update %s", x.UpdateID)
			}
		}
		return effectsHandler(ctx, tx, batch)
	})
	base, err := pq.NewConnector(b.dsn)
	require.NoError(t, err)
	conn := &asideReplyConnector{Connector: base}
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	t.Cleanup(func() { db.Close() })
	var logs syncbuf.Buffer
	ing, err := ingest.New(db, b.client, ingest.Config{Parties: []string{treasury}, Handler: h, Poison: ingest.PoisonSetAside,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		EndOffset: b.p.LedgerEnd()})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	require.True(t, conn.lost.Load(), "the lost reply was not injected")

	aside, err := ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, rejected, aside[0].UpdateID)
	require.Equal(t, 1, strings.Count(logs.String(), "transaction set aside for review"), "logged once:\n%s", logs.String())
	require.Equal(t, int64(1), ing.Stats().SetAside, "counted once")
}
