package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// OnCommit panics (the exchange's metrics code) and the process survives
// it (a supervisor that recovers and runs the Ingester again). With the
// pipeline, the next batch's transaction was begun before the batch in
// flight was settled and OnCommit called: Run must not leave it open on
// a connection of the pool, where it holds its claims of update ids and
// a snapshot, and the Ingester run again must finish.
func TestRV175OnCommitPanicLeavesNoTransactionOpen(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 60)
	calls := 0
	ing := newIngester(t, b, ingest.Config{MaxBatchSize: 5, EndOffset: b.p.LedgerEnd(), OnCommit: func(ingest.Stats) {
		if calls++; calls == 2 {
			panic("metrics: assignment to entry in nil map")
		}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		_ = ing.Run(ctx)
	}()
	require.NotNil(t, panicked, "OnCommit's panic did not reach Run's caller")

	var open []string
	require.NoError(t, b.db.SelectContext(ctx, &open, `SELECT state || ': ' || query FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'`))
	require.Empty(t, open, "transactions left open after OnCommit panicked (pool: %+v)", b.db.Stats())

	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	require.NoError(t, ing.Run(rctx), "the Ingester run again after OnCommit panicked")
	requireAllOnce(t, b)
}
