package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// runOwnGoroutine runs ing.Run in a goroutine of its own and reports
// whether Run returned or its goroutine was ended by runtime.Goexit.
func runOwnGoroutine(ctx context.Context, ing *ingest.Ingester) (err error, returned bool) {
	type result struct {
		err      error
		returned bool
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() { done <- r }()
		r.err = ing.Run(ctx)
		r.returned = true
	}()
	r := <-done
	return r.err, r.returned
}

// A Handler that calls runtime.Goexit (testify's require, or t.FailNow,
// in a Handler) is taken as one that panicked: Run returns an error
// naming the transaction, and nothing of its batch commits. Batches are
// finished in a goroutine of the pipeline: the Goexit ended it, its
// result never came, and Run waited for ever.
func TestHandlerGoexitStopsRunNamingTheTransaction(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 40)
	bad := treasuryTxs(b.p)[25]
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
		for _, t := range batch.Transactions {
			if t.UpdateID == bad.UpdateID {
				runtime.Goexit()
			}
		}
		return effectsHandler(ctx, tx, batch)
	})
	ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, EndOffset: b.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err, returned := runOwnGoroutine(ctx, ing)
	require.True(t, returned, "Run's own goroutine was ended by the Handler's Goexit")
	require.ErrorIs(t, err, ingest.ErrHandlerPanicked)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "Goexit")
	require.Contains(t, err.Error(), bad.UpdateID)
	require.Contains(t, err.Error(), fmt.Sprint(bad.Offset))
	st := readState(t, b.db)
	require.Less(t, st.Checkpoint.Offset, bad.Offset)
	require.Positive(t, st.Checkpoint.Offset, "the batches before the bad one commit")
	for _, e := range st.Effects {
		require.NotContains(t, e, bad.UpdateID+"@")
	}
}

// Under PoisonSetAside a transaction whose handling calls Goexit is set
// aside like one whose handling panics, and ingestion goes on.
func TestHandlerGoexitIsSetAside(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 40)
	bad := treasuryTxs(b.p)[25]
	h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
		for _, t := range batch.Transactions {
			if t.UpdateID == bad.UpdateID {
				runtime.Goexit()
			}
		}
		return effectsHandler(ctx, tx, batch)
	})
	ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, EndOffset: b.p.LedgerEnd(), Poison: ingest.PoisonSetAside})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err, returned := runOwnGoroutine(ctx, ing)
	require.True(t, returned)
	require.NoError(t, err)
	aside, err := ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, bad.UpdateID, aside[0].UpdateID)
	require.Equal(t, b.p.LedgerEnd(), readState(t, b.db).Checkpoint.Offset)
}

type goexitPreparer struct {
	ingest.Handler
	bad string
}

func (p goexitPreparer) Prepare(t *ledger.Transaction) any {
	if t.UpdateID == p.bad {
		runtime.Goexit()
	}
	return nil
}

// A Preparer that calls Goexit ended the goroutine reading the stream,
// which Run took for the stream's end: it returned nil, as after Stop,
// with the ledger not ingested. Run now fails naming the transaction.
func TestPrepareGoexitStopsRunNamingTheTransaction(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 40)
	bad := treasuryTxs(b.p)[25]
	h := goexitPreparer{Handler: ingest.HandlerFunc(effectsHandler), bad: bad.UpdateID}
	ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, EndOffset: b.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err, returned := runOwnGoroutine(ctx, ing)
	require.True(t, returned)
	require.Error(t, err, "Run returned nil with the ledger not ingested")
	require.False(t, errors.Is(err, context.DeadlineExceeded), "Run waited: %v", err)
	require.Contains(t, err.Error(), "Goexit")
	require.Contains(t, err.Error(), bad.UpdateID)
	require.Contains(t, err.Error(), fmt.Sprint(bad.Offset))
	require.Less(t, readState(t, b.db).Checkpoint.Offset, bad.Offset)
}
