package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// An operator opens a transaction, looks into things, and meanwhile the
// Ingester sets a transaction aside; the operator deals with it and
// resolves it in that transaction (ResolveSetAsideTx). resolved_at is when
// it was resolved: not before it was set aside, nor the time the
// operator's transaction began.
func TestRV154ResolvedAtIsWhenResolvedNotWhenTheCallersTxBegan(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	tx, err := b.db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `SELECT 1`) // the operator's transaction has begun
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)

	appendN(t, b.p, 0, 8)
	rejected := treasuryTxs(b.p)[3]
	ing := newIngester(t, b, ingest.Config{Handler: rejecting(rejected.UpdateID, cannotApply), Poison: ingest.PoisonSetAside, MaxBatchSize: 4, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, ing.Run(ctx))
	time.Sleep(50 * time.Millisecond)

	require.NoError(t, ing.ResolveSetAsideTx(ctx, tx, rejected.UpdateID, "credited by hand"))
	require.NoError(t, tx.Commit())

	var setAsideAt, resolvedAt time.Time
	require.NoError(t, b.db.QueryRowContext(ctx, `SELECT set_aside_at, resolved_at FROM txhistory.review_transaction WHERE update_id = $1`, rejected.UpdateID).
		Scan(&setAsideAt, &resolvedAt))
	require.False(t, resolvedAt.Before(setAsideAt), "resolved at %s, before it was set aside at %s", resolvedAt, setAsideAt)
}
