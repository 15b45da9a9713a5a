package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A pool of three, so that batches overlap (the pipeline), whose limit the
// application lowers to the connection the lock holds while Run runs
// (TestRV127PoolLimitLoweredDuringRun). Run must fail with
// ErrPoolExhausted after Config.LockCheck, as its doc and OPERATIONS.md
// say: the pipeline's start of the batch met it, then committed the batch
// again the slow way, whose start waited out LockCheck once more.
func TestRV138PipelinedBatchFailsAfterOneLockCheck(t *testing.T) {
	ctx, db, p, client := embedRig(t)
	var w ledgertest.TokenWorld
	_, err := p.Append(w.Mint("hot::1", "10"))
	require.NoError(t, err)
	db.SetMaxOpenConns(3)
	const lockCheck = 3 * time.Second
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"hot::1"}, LockCheck: lockCheck, Logger: quietLog})
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(rctx) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == p.LedgerEnd() }, 10*time.Second, 10*time.Millisecond)
	db.SetMaxOpenConns(1)
	begin := time.Now()
	_, err = p.Append(w.Mint("hot::1", "11"))
	require.NoError(t, err)
	err = <-done
	took := time.Since(begin)
	require.ErrorIs(t, err, ingest.ErrPoolExhausted)
	require.Less(t, took, lockCheck+lockCheck*2/3, "Run failed %v after the batch arrived, LockCheck %v: the wait ran more than once", took, lockCheck)
}
