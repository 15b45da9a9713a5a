package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// The operator restarts ingestion against the same Integration DB with
// another treasury party (-party, Config.Parties) than the one whose
// transactions are ingested. Run refuses the change of the recorded
// parties (ErrPartiesChanged). Accepted (AcceptPartiesChange), the last
// ingested transaction is not visible to the new party, so the
// participant answers GetUpdateById with NOT_FOUND, as a participant
// restored from a backup would. Run refuses, but its error must not send
// the operator to the validator node restore runbook alone: it names the
// parties it looked with and the other causes (the parties changed,
// another participant).
func TestRV65ChangedPartyRefusalNamesTheParties(t *testing.T) {
	const newParty = "treasury-new::1220beef"
	b := setup(t)
	appendN(t, b.p, 0, 20)
	runToEnd(t, b, ingest.Config{})
	before := readState(t, b.db)
	_, err := b.p.Append(simpleTx(newParty, 100))
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = newIngester(t, b, ingest.Config{Parties: []string{newParty}, EndOffset: b.p.LedgerEnd()}).Run(ctx)
	require.ErrorIs(t, err, ingest.ErrPartiesChanged)
	require.Equal(t, before, readState(t, b.db), "the refused restart wrote nothing")

	err = newIngester(t, b, ingest.Config{Parties: []string{newParty}, AcceptPartiesChange: true, EndOffset: b.p.LedgerEnd()}).Run(ctx)
	require.ErrorIs(t, err, ingest.ErrParticipantRestored)
	var re *ingest.RestoredError
	require.True(t, errors.As(err, &re), "%v", err)
	require.Contains(t, re.Reason, "does not know the last ingested transaction")
	require.Contains(t, err.Error(), newParty, "the refusal does not name the parties it looked the last ingested transaction up with")
	require.Contains(t, err.Error(), "Config.Parties", "the refusal does not say that the parties may have changed")
	require.Contains(t, err.Error(), "another participant", "the refusal does not say that this may be another participant")
	before.Checkpoint.Parties = []string{newParty} // recorded, as accepted
	require.Equal(t, before, readState(t, b.db), "the refused restart wrote nothing else")
}
