package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Handler that panics on a transaction is a poison transaction like one
// that returns an error: Run returns an error naming it (PoisonHalt),
// nothing of its batch commits, and the process is not brought down. The
// batch's HandleBatch runs in a goroutine of the pipeline, where a panic
// cannot be recovered by Run's caller: it crashed the process.
func TestHandlerPanicStopsRunNamingTheTransaction(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 40)
	bad := treasuryTxs(b.p)[25]
	h := rejecting(bad.UpdateID, func(ctx context.Context, tx *sqlx.Tx, batch *ingest.Batch, t *ledger.Transaction) error {
		if err := effectsHandler(ctx, tx, batch); err != nil {
			return err
		}
		var m map[string]int
		m[t.UpdateID]++ // a handler bug: assignment to a nil map
		return nil
	})
	ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, EndOffset: b.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("Run panicked: %v", r)
			}
		}()
		err = ing.Run(ctx)
	}()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "Run panicked")
	requireNamesTransaction(t, err, bad.UpdateID, bad.Offset)
	require.ErrorIs(t, err, ingest.ErrHandlerPanicked)
	require.ErrorIs(t, err, ingest.ErrHandlerRejected)
	st := readState(t, b.db)
	require.Less(t, st.Checkpoint.Offset, bad.Offset)
	for _, e := range st.Effects {
		require.NotContains(t, e, bad.UpdateID+"@")
	}
}

// Under PoisonSetAside a transaction whose handling panics is set aside
// and ingestion goes on.
func TestHandlerPanicIsSetAside(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 40)
	bad := treasuryTxs(b.p)[25]
	h := rejecting(bad.UpdateID, func(_ context.Context, _ *sqlx.Tx, _ *ingest.Batch, t *ledger.Transaction) error {
		panic("handler bug on " + t.UpdateID)
	})
	ing := newIngester(t, b, ingest.Config{Handler: h, MaxBatchSize: 10, EndOffset: b.p.LedgerEnd(), Poison: ingest.PoisonSetAside})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	aside, err := ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, bad.UpdateID, aside[0].UpdateID)
	require.Contains(t, aside[0].Error, "panic")
	st := readState(t, b.db)
	require.Equal(t, b.p.LedgerEnd(), st.Checkpoint.Offset)
	require.Len(t, st.Effects, len(treasuryTxs(b.p))-1)
}
