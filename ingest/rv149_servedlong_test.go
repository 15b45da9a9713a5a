package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A stall is the Ingester's own verdict, not churn: a quiet stream (no
// transaction, no OffsetCheckpoint) that the Ingester gives up on after
// StallTimeout, well past MaxBackoff, still counts as a failed attempt
// without progress, and Run gives up after MaxAttempts of them, as
// Config.MaxAttempts says.
func TestRV149StallAfterLongQuietStreamCountsAsFailure(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(time.Hour))
	appendN(t, b.p, 0, 3)
	ing := newIngester(t, b, ingest.Config{MaxAttempts: 3, StallTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := ing.Run(ctx)
	require.ErrorContains(t, err, "giving up after 3 attempts")
	require.ErrorContains(t, err, "stalled")
	require.Equal(t, b.p.LedgerEnd(), ing.Stats().Offset)
	requireAllOnce(t, b)
}

// An Integration DB whose checkpoint recorded an empty party id (written
// before checkpoint refused one): the refusal of empty ids applies to the
// parties recorded, not to those read, so Run still refuses the difference
// (ErrPartiesChanged) and, accepted (AcceptPartiesChange), records the
// treasury in their place and ingests.
func TestRV149RecordedEmptyPartyIsReplaced(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 4)
	runToEnd(t, b, ingest.Config{EndOffset: 2})
	_, err := b.db.Exec(`UPDATE txhistory.checkpoint SET parties = '{""}' WHERE id = 1`)
	require.NoError(t, err)

	require.ErrorIs(t, runParties(t, b, ingest.Config{}), ingest.ErrPartiesChanged)
	require.NoError(t, runParties(t, b, ingest.Config{AcceptPartiesChange: true}))
	st := readState(t, b.db)
	require.Equal(t, []string{treasury}, st.Checkpoint.Parties)
	require.Equal(t, b.p.LedgerEnd(), st.Checkpoint.Offset)
}
