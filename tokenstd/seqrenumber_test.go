package tokenstd_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

const historySeq = testSchema + ".token_history_id_seq"

// TestRenumberTwiceInOneSecondAfterTwoRestores: the doc of seqEpochShift
// promises a Seq above every one handed out before "unless more than 2^20
// entries a second were ingested since the last restore". A restore drill
// (examples/dbrestoredrill, or an operator who restores, sees ingestion
// resume and restores again from the same backup) renumbers, ingests three
// entries that a reader pages past, restores the backup again (pg_restore
// sets the sequence back: pg_catalog.setval as the dump holds it) and
// renumbers within the same second: three entries in well under a second,
// yet the next Seq is one the reader already went past. The only value that
// survives a restore is the wall clock, rounded to the second.
func TestRenumberTwiceInOneSecondAfterTwoRestores(t *testing.T) {
	ctx := context.Background()
	db, err := sqlx.Open("postgres", pgtest.NewDSN(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema(testSchema)))

	for attempt := 0; ; attempt++ {
		var before int64
		require.NoError(t, db.GetContext(ctx, &before, `SELECT extract(epoch FROM now())::bigint`))
		// Restore 1, renumber, ingestion resumes.
		_, err = db.ExecContext(ctx, `SELECT pg_catalog.setval($1, 1, false)`, historySeq)
		require.NoError(t, err)
		require.NoError(t, tokenstd.RenumberAfterRestore(ctx, db, testSchema))
		var seen int64
		require.NoError(t, db.GetContext(ctx, &seen, `SELECT max(v) FROM (SELECT nextval($1) AS v FROM generate_series(1, 3)) s`, historySeq))
		// Restore 2 from the same backup, renumber.
		_, err = db.ExecContext(ctx, `SELECT pg_catalog.setval($1, 1, false)`, historySeq)
		require.NoError(t, err)
		require.NoError(t, tokenstd.RenumberAfterRestore(ctx, db, testSchema))
		var after int64
		require.NoError(t, db.GetContext(ctx, &after, `SELECT extract(epoch FROM now())::bigint`))
		if before != after && attempt < 5 {
			continue // crossed a second: try again
		}
		var next int64
		require.NoError(t, db.GetContext(ctx, &next, `SELECT nextval($1)`, historySeq))
		require.Greater(t, next, seen, "the next Seq after the second restore, against the largest a reader saw after the first")
		return
	}
}
