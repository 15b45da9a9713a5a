package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// swallowingHandler is effectsHandler, but on the transaction bad it runs
// a statement that fails and ignores the error (a handler bug: "insert,
// ignore a duplicate" without a savepoint). PostgreSQL has aborted the SQL
// transaction by then; HandleBatch returns nil.
func swallowingHandler(bad string) ingest.Handler {
	return rejecting(bad, func(ctx context.Context, tx *sqlx.Tx, _ *ingest.Batch, _ *ledger.Transaction) error {
		_, _ = tx.ExecContext(ctx, `INSERT INTO no_such_table VALUES (1)`)
		return nil
	})
}

// A Handler that swallows a database error leaves its SQL transaction
// aborted: the checkpoint's update then fails with SQLSTATE 25P02 (current
// transaction is aborted). That is the Handler's fault on a transaction,
// like an error it returns: under PoisonHalt Run names the transaction,
// under PoisonSetAside it is set aside. The Ingester took it for a fault
// of its own: Run stopped with "checkpoint: advance to offset N: ...
// current transaction is aborted", naming neither the transaction nor the
// Handler, under either policy.
func TestHandlerLeavingTheTransactionAborted(t *testing.T) {
	t.Run("Halt", func(t *testing.T) {
		b := setup(t)
		appendN(t, b.p, 0, 40)
		bad := treasuryTxs(b.p)[25]
		ing := newIngester(t, b, ingest.Config{Handler: swallowingHandler(bad.UpdateID), MaxBatchSize: 10, EndOffset: b.p.LedgerEnd()})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := ing.Run(ctx)
		requireNamesTransaction(t, err, bad.UpdateID, bad.Offset)
		require.Less(t, readState(t, b.db).Checkpoint.Offset, bad.Offset)
	})
	t.Run("SetAside", func(t *testing.T) {
		b := setup(t)
		appendN(t, b.p, 0, 40)
		bad := treasuryTxs(b.p)[25]
		ing := newIngester(t, b, ingest.Config{Handler: swallowingHandler(bad.UpdateID), MaxBatchSize: 10, EndOffset: b.p.LedgerEnd(),
			Poison: ingest.PoisonSetAside})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, ing.Run(ctx))
		aside, err := ing.SetAsideTransactions(ctx)
		require.NoError(t, err)
		require.Len(t, aside, 1)
		require.Equal(t, bad.UpdateID, aside[0].UpdateID)
		st := readState(t, b.db)
		require.Equal(t, b.p.LedgerEnd(), st.Checkpoint.Offset)
		require.Len(t, st.Effects, len(treasuryTxs(b.p))-1)
	})
}
