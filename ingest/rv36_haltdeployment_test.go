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

// Under PoisonHalt a batch the handler rejects with a database's refusal
// is handed over one transaction at a time to name the transaction that
// caused it. A refusal of SQLSTATE class 42 or 3F (a table the handler's
// database lacks, reached for this transaction only) must be named as any
// other: the check that keeps such a fault from being set aside under
// PoisonSetAside must not leave PoisonHalt's error naming only the batch.
func TestRV36HaltNamesTheTransactionOfADeploymentFault(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 40)
	bad := treasuryTxs(b.p)[20]
	refuse := rejecting(bad.UpdateID, func(ctx context.Context, tx *sqlx.Tx, _ *ingest.Batch, _ *ledger.Transaction) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO rare_case_notifications (update_id) VALUES ('x')`) // names nothing
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := newIngester(t, b, ingest.Config{Handler: refuse, EndOffset: b.p.LedgerEnd()}).Run(ctx)
	require.ErrorContains(t, err, "rare_case_notifications")
	requireNamesTransaction(t, err, bad.UpdateID, bad.Offset)
	st := readState(t, b.db)
	require.Less(t, st.Checkpoint.Offset, bad.Offset)
}
