package tokenstd_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// An exchange polling for new deposits pages with ListEntries (Kinds,
// AfterSeq = the last entry read, Limit). A page must be read by walking
// token_history's primary key from the cursor also while the table has no
// statistics: right after the Integration DB is restored with pg_restore
// (which restores none), until autovacuum first analyzes it. The filter on
// kind is costed then at the default selectivity of an equality, the id
// range at a third of the table, and the page as a sequential scan of the
// whole history followed by a sort, page after page.
func TestListEntriesKindsWithoutStatistics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db))
	_, err := db.ExecContext(ctx, `ALTER TABLE txhistory.token_history SET (autovacuum_enabled = false)`)
	require.NoError(t, err)
	// Months of history, as restored: no statistics.
	_, err = db.ExecContext(ctx, `INSERT INTO txhistory.token_history (update_id, node_id, kind, instrument_admin,
			instrument_id, ledger_offset, record_time, amount)
		SELECT 'old-' || g, 0, CASE WHEN g % 3 = 1 THEN 'withdrawal' ELSE 'deposit' END, 'admin', 'Amulet', g,
			timestamptz '2026-01-01' + g * interval '1 second', 1
		FROM generate_series(1, 300000) g`)
	require.NoError(t, err)
	var stats int
	require.NoError(t, db.GetContext(ctx, &stats, `SELECT count(*) FROM pg_stats WHERE schemaname = 'txhistory' AND tablename = 'token_history'`))
	require.Zero(t, stats, "the history has no statistics")

	tx, err := db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck
	f := tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDeposit}, AfterSeq: 299000, Limit: 100}
	es, err := tokenstd.ListEntries(ctx, tx, schema.DefaultName, f)
	require.NoError(t, err)
	require.Len(t, es, 100)
	require.Equal(t, int64(299001), es[0].Seq, "the first deposit after the cursor")
	var scans, read int64
	require.NoError(t, tx.QueryRowxContext(ctx, `SELECT seq_scan, seq_tup_read FROM pg_stat_xact_user_tables
		WHERE relid = 'txhistory.token_history'::regclass`).Scan(&scans, &read))
	require.Zero(t, scans, "sequential scans of token_history (300,000 entries, %d read) for a page of 100 deposits", read)
}
