package recovery_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// Plan is documented to take a *sqlx.Tx, as an embedder does to plan and
// apply in one transaction under the ingestion lock. Its wait for the
// restored participant's OffsetCheckpoint (seconds here, a minute on a
// quiet ledger) leaves that transaction idle: under a DBA's
// idle_in_transaction_session_timeout shorter than the wait, the plan and
// its apply must either still succeed or fail with an error naming the
// timeout.
func TestRV157PlanInTxUnderIdleInTransactionTimeout(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t, ledgertest.WithCheckpointInterval(2*time.Second))
	restoredAfter(t, b, script(60), 20, "")
	_, err := b.db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_in_transaction_session_timeout = %L', current_database(), '300ms'); END $$`)
	require.NoError(t, err)
	b.db.SetMaxIdleConns(0) // new sessions take the setting
	b.db.SetMaxIdleConns(2)

	tx, err := b.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	var timeout string
	require.NoError(t, tx.Get(&timeout, `SHOW idle_in_transaction_session_timeout`))
	require.Equal(t, "300ms", timeout)
	start := time.Now()
	rw, err := recovery.Plan(ctx, tx, b.client, options(recovery.ModeNonUnique))
	t.Logf("Plan took %s", time.Since(start))
	if err == nil {
		err = recovery.ApplyTx(ctx, tx, rw)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		require.Contains(t, err.Error(), "idle_in_transaction_session_timeout", "the error does not name the timeout")
		return
	}
	require.Len(t, rewinds(t, b), 1)
}
