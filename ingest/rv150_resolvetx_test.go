package ingest_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// An operator deals with a set-aside transaction's effects by hand (here:
// applies it to the effects table) and resolves it in the same database
// transaction, with ResolveSetAsideTx: rolled back, neither the effects
// nor the resolution are kept, and the transaction is still listed for
// review; committed, both are. With ResolveSetAside only, a crash between
// the two would leave effects applied and the row unresolved (applied
// twice by the next operator) or the row resolved and nothing applied.
func TestRV150ResolveSetAsideTxRollsBackWithTheCaller(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	rejected := treasuryTxs(b.p)[5]
	ing := newIngester(t, b, ingest.Config{Handler: rejecting(rejected.UpdateID, cannotApply), Poison: ingest.PoisonSetAside, MaxBatchSize: 4, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, ing.Run(context.Background()))
	ctx := context.Background()

	applyByHand := func(commit bool) {
		tx, err := b.db.BeginTxx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = tx.ExecContext(ctx, `INSERT INTO effects VALUES ($1, $2, $3, $4)`, rejected.UpdateID, rejected.Offset, len(rejected.Events), rejected.RecordTime)
		require.NoError(t, err)
		require.ErrorContains(t, ing.ResolveSetAsideTx(ctx, tx, rejected.UpdateID, " "), "resolution is empty")
		require.NoError(t, ing.ResolveSetAsideTx(ctx, tx, rejected.UpdateID, "applied by hand"))
		require.ErrorIs(t, ing.ResolveSetAsideTx(ctx, tx, rejected.UpdateID, "again"), ingest.ErrNotSetAside, "resolved within the transaction")
		if commit {
			require.NoError(t, tx.Commit())
		}
	}
	applied := func() int {
		var n int
		require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM effects WHERE update_id = $1`, rejected.UpdateID))
		return n
	}

	applyByHand(false)
	aside, err := ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1, "rolled back with the caller's transaction, the resolution is not kept")
	require.Equal(t, rejected.UpdateID, aside[0].UpdateID)
	require.Zero(t, applied())

	applyByHand(true)
	aside, err = ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Empty(t, aside)
	require.Equal(t, 1, applied())
	require.ErrorIs(t, ing.ResolveSetAside(ctx, rejected.UpdateID, "again"), ingest.ErrNotSetAside)
}
