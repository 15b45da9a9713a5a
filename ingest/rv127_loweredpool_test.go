package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// The application lowers the pool's limit while Run runs
// (SetMaxOpenConns(1), the connection the lock holds): the pool keeps an
// idle connection above the limit, which it closes once given back. The
// wait for a connection for the next batch took that one, gave it back (it
// was closed) and reported a connection free: the batch then waited for
// one for ever, no error. Run must fail with ErrPoolExhausted, as when the
// limit was that low from the start.
func TestRV127PoolLimitLoweredDuringRun(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"}, LockCheck: time.Second, Logger: quietLog})
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 10*time.Second, 10*time.Millisecond)
	require.Positive(t, db.Stats().Idle, "a connection of the batch before sits idle in the pool")
	db.SetMaxOpenConns(1)
	_, err = p.Append(w.Mint("hot::1", "11"))
	require.NoError(t, err)
	err = <-done
	require.NotErrorIs(t, err, context.DeadlineExceeded, "Run stood still until its context ended: %v", err)
	require.ErrorIs(t, err, ingest.ErrPoolExhausted)
}
