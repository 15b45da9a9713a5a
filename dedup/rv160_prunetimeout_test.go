package dedup_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A prune's statement scans ingested_update, so its time grows with the
// table (see PruneBefore's doc). Under a DBA's statement_timeout shorter
// than that, a prune that ran into it failed every time, a retry made no
// progress (one statement, one transaction), and the table grew forever.
// PruneBefore now turns statement_timeout off for that statement only
// (ctx bounds it) and sets the transaction's value back after it.
func TestRV160PruneOutlastsADBAsStatementTimeout(t *testing.T) {
	ctx := context.Background()
	db, s := migratedStore(t)
	const rows = 300000
	// Months of ingestion: 90 days on two synchronizers, a batch of 100
	// ids per ingested_at, the checkpoint at the last one.
	_, err := db.Exec(`INSERT INTO txhistory.ingested_update (update_id, ledger_offset, record_time, synchronizer_id, ingested_at)
		SELECT 'u' || g, g, now() - interval '90 days' + g * (interval '90 days' / $1::int),
			CASE WHEN g % 10 = 0 THEN 'B' ELSE 'A' END,
			now() - interval '90 days' + (g / 100) * 100 * (interval '90 days' / $1::int)
		FROM generate_series(1, $1::int) g`, rows)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO txhistory.checkpoint (ledger_offset, update_id, update_offset, record_time, synchronizer_id)
		VALUES ($1::bigint, 'u' || $1::bigint, $1::bigint, now(), 'A')`, rows-1)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO txhistory.synchronizer_time VALUES ('A', now(), $1), ('B', now(), $1)`, rows)
	require.NoError(t, err)
	_, err = db.Exec(`ANALYZE txhistory.ingested_update`)
	require.NoError(t, err)

	// The DBA's timeout, as a role's or the database's would be: on the
	// pool's one session.
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`SET statement_timeout = '50ms'`)
	require.NoError(t, err)
	cut := time.Now().Add(-30 * 24 * time.Hour)
	pruned, err := s.PruneBefore(ctx, db, cut)
	require.NoError(t, err, "a prune of %d ids fails under a 50ms statement_timeout, and so would every retry", rows)
	require.Greater(t, pruned, int64(rows/2))
	var setting string
	require.NoError(t, db.Get(&setting, `SELECT current_setting('statement_timeout')`))
	require.Equal(t, "50ms", setting, "the session's statement_timeout after a prune")

	// Given the caller's transaction, the prune sets its value back too.
	tx, err := db.Beginx()
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.Exec(`SET LOCAL statement_timeout = '40ms'`)
	require.NoError(t, err)
	_, err = s.PruneBefore(ctx, tx, cut)
	require.NoError(t, err)
	require.NoError(t, tx.Get(&setting, `SELECT current_setting('statement_timeout')`))
	require.Equal(t, "40ms", setting, "the caller's transaction's statement_timeout after a prune")
}
