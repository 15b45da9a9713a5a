package ingest_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// One Ingester on a pool of two connections it shares with the
// application, which holds the other one: the next batch waits out
// LockCheck, warns, and waits on for the application's connection. The
// application then lowers the limit to the one the lock holds
// (SetMaxOpenConns(1)) and gives its connection back, which the pool
// closes. The ingestion lock now holds every connection the pool allows:
// Run must fail with ErrPoolExhausted, as when the limit was lowered
// before the wait (TestRV127PoolLimitLoweredDuringRun). The wait after the
// warning looked neither at the limit nor at the locks again: it waited
// for ever, no error.
func TestRV132PoolLimitLoweredWhileWaitingOn(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)
	db.SetMaxOpenConns(2)
	var logs syncbuf.Buffer
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"}, LockCheck: 500 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 10*time.Second, 10*time.Millisecond)

	app, err := db.Conn(ctx)
	require.NoError(t, err)
	_, err = p.Append(w.Mint("hot::1", "11"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "ingest: waiting for a database connection")
	}, 10*time.Second, 10*time.Millisecond, "the batch waits on for the application's connection")
	db.SetMaxOpenConns(1)
	require.NoError(t, app.Close())

	select {
	case err := <-done:
		require.ErrorIs(t, err, ingest.ErrPoolExhausted)
	case <-time.After(5 * time.Second):
		t.Fatalf("Run still waits 5s after the lock came to hold every connection the pool allows (returned %v at its context's end)", <-done)
	}
}
