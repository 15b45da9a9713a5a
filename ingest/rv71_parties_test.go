package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

const depositParty = "treasury-b::1220cafe"

// sharedTx is simpleTx visible to both parties.
func sharedTx(a, b string, n int) *ledger.Transaction {
	tx := simpleTx(a, n)
	ev := tx.Events[0].(*ledger.CreatedEvent)
	ev.WitnessParties = []string{a, b}
	return tx
}

// The Integration DB was filled for Parties [A]; the operator restarts it
// with [A, B]. B's deposit lies before the checkpoint: resuming from the
// stored offset would never ingest it, so Run must refuse.
func TestRV71AddedPartyIsNotSkippedInSilence(t *testing.T) {
	b := setup(t)
	deposit, err := b.p.Append(simpleTx(depositParty, 1000))
	require.NoError(t, err)
	appendN(t, b.p, 0, 10)
	_, err = b.p.Append(sharedTx(treasury, depositParty, 1001)) // the last ingested: visible to both
	require.NoError(t, err)
	runToEnd(t, b, ingest.Config{})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = newIngester(t, b, ingest.Config{Parties: []string{treasury, depositParty}, EndOffset: b.p.LedgerEnd()}).Run(ctx)
	var ingested int
	require.NoError(t, b.db.Get(&ingested, `SELECT count(*) FROM effects WHERE update_id = $1`, deposit[0].UpdateID))
	require.Error(t, err, "Run with an added party resumed from the checkpoint and returned nil: B's deposit before it was never ingested (ingested %d times)", ingested)
}
