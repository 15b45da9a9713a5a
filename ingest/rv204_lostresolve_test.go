package ingest_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/lostcommit"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// An operator resolves a set-aside transaction, or deals with its effects
// and resolves it in one transaction (ResolveSetAsideTx); the COMMIT goes
// through and the connection drops before its reply. The operator cannot
// tell, and tries again: the refusal (ErrNotSetAside, which keeps a
// retried transaction from applying the effects twice) must say that the
// row was resolved, when and how, not only that there is no unresolved
// row of that id, as for a mistyped one.
func TestRV204LostReplyToAResolution(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 20)
	rejected := treasuryTxs(b.p)[5]
	cfg := ingest.Config{Handler: rejecting(rejected.UpdateID, cannotApply), Poison: ingest.PoisonSetAside, MaxBatchSize: 4, EndOffset: b.p.LedgerEnd()}
	require.NoError(t, newIngester(t, b, cfg).Run(context.Background()))
	ctx := context.Background()

	p := lostcommit.New(t, b.dsn)
	db, err := sqlx.Open("postgres", p.DSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	cfg.Parties, cfg.Logger = []string{treasury}, quietLog
	ing, err := ingest.New(db, b.client, cfg)
	require.NoError(t, err)

	p.Arm("credited by hand")
	require.Error(t, ing.ResolveSetAside(ctx, rejected.UpdateID, "credited by hand"))
	require.Equal(t, 1, p.Lost(), "the reply to the resolution's COMMIT was not lost")
	aside, err := ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Empty(t, aside, "the resolution committed")

	err = ing.ResolveSetAside(ctx, rejected.UpdateID, "credited by hand")
	require.ErrorIs(t, err, ingest.ErrNotSetAside)
	require.ErrorContains(t, err, "resolved at", "the retry is not told the row was resolved")
	require.ErrorContains(t, err, `"credited by hand"`)

	tx, err := b.db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	err = ing.ResolveSetAsideTx(ctx, tx, rejected.UpdateID, "credited by hand")
	require.ErrorIs(t, err, ingest.ErrNotSetAside)
	require.ErrorContains(t, err, "resolved at")

	err = ing.ResolveSetAside(ctx, "no-such-update", "x")
	require.ErrorIs(t, err, ingest.ErrNotSetAside)
	require.NotContains(t, err.Error(), "resolved at")
}
