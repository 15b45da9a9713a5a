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

// Plan turns idle_in_transaction_session_timeout off for a caller's
// transaction while it waits for the participant; after it returns, the
// caller's transaction (an operator reading the rewind before ApplyTx,
// holding its snapshot and its locks) is again under the DBA's timeout or
// the caller's own.
func TestRV159PlanInTxSetsIdleTimeoutBack(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t, ledgertest.WithCheckpointInterval(2*time.Second))
	restoredAfter(t, b, script(60), 20, "")

	tx, err := b.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.Exec(`SET LOCAL idle_in_transaction_session_timeout = '5min'`)
	require.NoError(t, err)
	rw, err := recovery.Plan(ctx, tx, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	var timeout string
	require.NoError(t, tx.Get(&timeout, `SHOW idle_in_transaction_session_timeout`))
	require.Equal(t, "5min", timeout, "Plan left the caller's transaction without its idle timeout")
	require.NoError(t, recovery.ApplyTx(ctx, tx, rw))
	require.NoError(t, tx.Commit())
	require.Len(t, rewinds(t, b), 1)
}
