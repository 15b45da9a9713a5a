package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// Under PoisonSetAside the one-transaction batches made of a rejected batch
// end at their own transaction: offsets and record times are those reached
// there, not the whole batch's, so that a handler acting on RecordTimes
// (the Reconciler's expiry) does not act on a later transaction's time.
func TestSplitBatchesEndAtTheirTransaction(t *testing.T) {
	type seen struct {
		from, to int64
		updateID string
		offset   int64
		times    string
		txTime   string
	}
	// Where the ingester cuts batches depends on the machine's load: the
	// rejected transaction must arrive with others for a split to happen.
	// A slow first batch makes that likely (the ingester does not cut a
	// batch while the one before is committing); on a loaded machine it
	// may still come alone, and the scenario is run again.
	var (
		b        *testBundle
		ing      *ingest.Ingester
		rejected string
		txs      = 0
		last     int64
		split    []seen
		rest     *ingest.Batch
		failed   bool
	)
	for attempt := 0; attempt < 10 && !failed; attempt++ {
		b = setup(t)
		appendN(t, b.p, 0, 40)
		all := treasuryTxs(b.p)
		txs, last = len(all), all[len(all)-2].Offset
		rejected = all[len(all)-1].UpdateID // the last of the batch: every other one precedes it
		split, rest = nil, nil
		first := true
		h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch) error {
			if first {
				first = false
				time.Sleep(300 * time.Millisecond)
			}
			for _, x := range batch.Transactions {
				if x.UpdateID == rejected {
					if len(batch.Transactions) > 1 {
						failed = true
					}
					return fmt.Errorf("handler cannot apply update %s", x.UpdateID)
				}
			}
			if failed && len(batch.Transactions) == 1 {
				x := batch.Transactions[0]
				split = append(split, seen{batch.FromOffset, batch.ToOffset, x.UpdateID, x.Offset,
					fmt.Sprint(batch.RecordTimes), fmt.Sprint(map[string]any{x.SynchronizerID: x.RecordTime})})
			}
			if failed && len(batch.Transactions) == 0 {
				rest = batch
			}
			return effectsHandler(ctx, tx, batch)
		})
		ing = newIngester(t, b, ingest.Config{Handler: h, Poison: ingest.PoisonSetAside, MaxBatchSize: 1000, EndOffset: b.p.LedgerEnd()})
		require.NoError(t, ing.Run(context.Background()))
	}
	require.True(t, failed, "in ten runs no batch held the rejected transaction with others: nothing was split")
	require.NotEmpty(t, split)
	require.Greater(t, txs, 2)

	prevTo := split[0].from
	for _, s := range split {
		require.Equal(t, prevTo, s.from, "%s: the batch starts where the one before ended", s.updateID)
		require.Equal(t, s.offset, s.to, "%s: the batch ends at its transaction", s.updateID)
		// The fake's record times grow with the offset: the time reached
		// at a transaction is its own.
		require.Equal(t, s.txTime, s.times, "%s at offset %d: the batch's record times", s.updateID, s.offset)
		prevTo = s.to
	}
	require.Equal(t, split[len(split)-1].to, last, "every transaction before the rejected one was handled alone")
	require.Nil(t, rest, "the rejected transaction ends the batch: the last one-transaction batch had its times already")

	aside, err := ing.SetAsideTransactions(context.Background())
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, rejected, aside[0].UpdateID)
}
