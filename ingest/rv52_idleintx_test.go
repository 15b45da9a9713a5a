package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// In a catch-up the next batch's transaction is open, idle, while the batch
// before it is handled and committed (Pipelining). A role's or database's
// idle_in_transaction_session_timeout (here 200ms) shorter than that must
// not end its session: every other batch would fail with "driver: bad
// connection", a database error that does not name the cause, and be
// committed again on its own.
func TestRV52PipelinedBatchOutlastsIdleInTransactionTimeout(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	_, err := b.db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_in_transaction_session_timeout = %L', current_database(), '200ms'); END $$`)
	require.NoError(t, err)
	db, err := sqlx.Open("postgres", b.dsn) // new sessions take the setting
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	b.db = db
	appendN(t, b.p, 0, 200)
	slow := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_sleep(0.3)`); err != nil { // a big batch's statements
			return err
		}
		return effectsHandler(ctx, tx, bt)
	})
	ing := newIngester(t, b, ingest.Config{Handler: slow, MaxBatchSize: 20, EndOffset: b.p.LedgerEnd()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	requireAllOnce(t, b)
	require.Empty(t, ing.Stats().Errors, "batches whose session the timeout ended")
}
