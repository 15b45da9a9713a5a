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

// Under PoisonHalt a batch the handler rejects with an error that names no
// transaction (a database's refusal) stops Run with an error naming the
// transaction that caused it; nothing of its batch is written.
func TestHaltNamesTheRejectedTransaction(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 40)
	bad := treasuryTxs(b.p)[20]
	refuse := rejecting(bad.UpdateID, func(ctx context.Context, tx *sqlx.Tx, _ *ingest.Batch, _ *ledger.Transaction) error {
		_, err := tx.ExecContext(ctx, `SELECT 1/0`) // names nothing
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := newIngester(t, b, ingest.Config{Handler: refuse, EndOffset: b.p.LedgerEnd()}).Run(ctx)
	requireNamesTransaction(t, err, bad.UpdateID, bad.Offset)
	require.ErrorContains(t, err, "handler failed on transaction "+bad.UpdateID)
	require.ErrorContains(t, err, "division by zero")
	require.ErrorIs(t, err, ingest.ErrHandlerRejected)
	st := readState(t, b.db)
	require.Less(t, st.Checkpoint.Offset, bad.Offset)
	for _, e := range st.Effects {
		require.NotContains(t, e, bad.UpdateID+"@")
	}
}
