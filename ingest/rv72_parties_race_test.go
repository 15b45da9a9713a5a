package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// Two ingesters start at once on a checkpoint with no parties recorded (from
// before schema version 010), under LockNone: X with [treasury], Y with
// [treasury, B]. Both read none; Y records its set first. X's recording
// must not overwrite Y's in silence: X is refused with ErrPartiesChanged and
// the set Y recorded stays (else a later Run with Y's set resumes from a
// checkpoint X moved without ingesting B, and B's deposits are skipped).
// The row lock held here lets Y's write land between X's read and X's write.
func TestRV72PartiesRecordedByAnotherIngesterMeanwhile(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 5)
	runToEnd(t, b, ingest.Config{})
	_, err := b.db.Exec(`UPDATE txhistory.checkpoint SET parties = NULL`)
	require.NoError(t, err)
	appendN(t, b.p, 5, 5)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	y, err := b.db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = y.Rollback() }()
	_, err = y.Exec(`SELECT 1 FROM txhistory.checkpoint WHERE id = 1 FOR UPDATE`)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		done <- newIngester(t, b, ingest.Config{Lock: ingest.LockNone, EndOffset: b.p.LedgerEnd()}).Run(ctx)
	}()
	require.Eventually(t, func() bool {
		var n int
		err := b.db.Get(&n, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%SET parties%'`)
		return err == nil && n == 1
	}, 10*time.Second, 5*time.Millisecond, "X's recording of its parties did not wait for the row lock")
	_, err = y.Exec(`UPDATE txhistory.checkpoint SET parties = $1`, pq.StringArray{depositParty, treasury})
	require.NoError(t, err)
	require.NoError(t, y.Commit())

	err = <-done
	require.ErrorIs(t, err, ingest.ErrPartiesChanged, "X overwrote the parties Y recorded meanwhile and ran on")
	require.Equal(t, []string{depositParty, treasury}, readState(t, b.db).Checkpoint.Parties, "the parties Y recorded were overwritten")
}
