package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A Reconciler that reads a batch's entries back from token_history (no
// ReconcilerConfig.History) must find them with index probes also while
// the table has no statistics: right after the Integration DB is restored
// with pg_restore (which restores no statistics) and ingestion resumes on
// months of history, or during a catch-up before autovacuum first analyzes
// the table. update_id = ANY(the batch's ids) is costed then at the default
// selectivity for each id, and a batch of a few hundred transactions as a
// sequential scan of the whole table, batch after batch.
func TestOutcomesReadWithoutStatistics(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{History: fromTable{}})
	// Months of history, as restored: no statistics, and none taken while
	// the test runs.
	_, err := e.db.ExecContext(e.ctx, `ALTER TABLE txhistory.token_history SET (autovacuum_enabled = false)`)
	require.NoError(t, err)
	_, err = e.db.ExecContext(e.ctx, `INSERT INTO txhistory.token_history (update_id, node_id, kind, instrument_admin,
			instrument_id, ledger_offset, record_time, amount, withdrawal_id, holdings_created, holdings_archived)
		SELECT 'old-' || g, 0, CASE WHEN g % 3 = 1 THEN 'withdrawal' ELSE 'deposit' END, 'admin', 'Amulet', g,
			timestamptz '2026-01-01' + g * interval '1 second', 1, CASE WHEN g % 3 = 1 THEN 'old-wd-' || g ELSE '' END,
			ARRAY['old-h-' || g], ARRAY['old-h-' || (g - 1)]
		FROM generate_series(1, 500000) g`)
	require.NoError(t, err)
	var stats int
	require.NoError(t, e.db.GetContext(e.ctx, &stats, `SELECT count(*) FROM pg_stats WHERE schemaname = 'txhistory' AND tablename = 'token_history'`))
	require.Zero(t, stats, "the history has no statistics")

	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	// A batch of 200 transactions: the withdrawal's transfer and deposits.
	txs := []*ledger.Transaction{e.transfer(w, "0.5")}
	for range 199 {
		txs = append(txs, e.world.Tx(e.world.MintOp(treasury, "1")))
	}
	b := e.batch(time.Time{}, txs...)
	tx, err := e.db.BeginTxx(e.ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	require.NoError(t, e.handler.HandleBatch(e.ctx, tx, b))
	var scans int64
	require.NoError(t, tx.GetContext(e.ctx, &scans, `SELECT seq_scan FROM pg_stat_xact_user_tables
		WHERE relid = 'txhistory.token_history'::regclass`))
	require.Zero(t, scans, "sequential scans of token_history (500,000 entries) while handling one batch")
	got, err := e.store.GetTx(e.ctx, tx, "wd-1")
	require.NoError(t, err)
	require.Equal(t, withdrawal.StatusCompleted, got.Status)
}
