package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// One Ingester on a pool of two connections it shares with the
// application, which holds the other connection for longer than LockCheck
// (a long report) and then gives it back. No ingestion lock but this one's
// holds a connection of the pool, so one comes free: the Ingester must wait
// for it, as any user of the pool does, and ingest, not fail Run for good
// with ErrPoolExhausted.
func TestRV125BusyApplicationOnASharedPool(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)
	db.SetMaxOpenConns(2)

	app, err := db.Conn(ctx)
	require.NoError(t, err)
	go func() {
		time.Sleep(3 * time.Second)
		app.Close()
	}()

	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"},
		EndOffset: p.LedgerEnd(), LockCheck: time.Second, Logger: quietLog})
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(rctx))
	require.Equal(t, p.LedgerEnd(), ing.Stats().Offset)
}
