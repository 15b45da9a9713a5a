package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The validator node restore runbook's rewind keeps the parties the
// checkpoint recorded: ingestion resumes after it with the same parties,
// and one with others is still refused.
func TestRewindKeepsTheRecordedParties(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	restoredAfter(t, b, script(60), 30, "tx-00050")
	require.Equal(t, []string{treasury}, readState(t, b.db).Checkpoint.Parties)

	rw, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)
	require.NoError(t, recovery.Apply(ctx, b.db, rw))
	st := readState(t, b.db)
	require.Equal(t, rw.To, st.Checkpoint.Offset, "rewound")
	require.Equal(t, []string{treasury}, st.Checkpoint.Parties, "the rewind kept the parties")

	ing, err := ingest.New(b.db, b.client, ingest.Config{Parties: []string{"treasury-new::1220beef"}, Handler: effects, Logger: quietLog, EndOffset: b.p.LedgerEnd()})
	require.NoError(t, err)
	require.ErrorIs(t, ing.Run(ctx), ingest.ErrPartiesChanged)
	ingestTo(t, b, b.p.LedgerEnd())
	require.Empty(t, readHistory(t, b.db).Duplicates)
}
