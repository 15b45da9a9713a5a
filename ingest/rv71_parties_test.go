package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/lib/pq"
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

// partiesLedger holds a deposit to depositParty, then treasury
// transactions, the last one visible to both parties; it is ingested for
// the treasury alone. It returns the deposit.
func partiesLedger(t *testing.T, b *testBundle) *ledger.Transaction {
	t.Helper()
	deposit, err := b.p.Append(simpleTx(depositParty, 1000))
	require.NoError(t, err)
	appendN(t, b.p, 0, 10)
	_, err = b.p.Append(sharedTx(treasury, depositParty, 1001))
	require.NoError(t, err)
	runToEnd(t, b, ingest.Config{})
	return deposit[0]
}

func runParties(t *testing.T, b *testBundle, cfg ingest.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg.EndOffset = b.p.LedgerEnd()
	return newIngester(t, b, cfg).Run(ctx)
}

func ingestedTimes(t *testing.T, b *testBundle, updateID string) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM effects WHERE update_id = $1`, updateID))
	return n
}

// The Integration DB was filled for Parties [A]; the operator restarts it
// with [A, B]. B's deposit lies before the checkpoint: resuming from the
// stored offset would never ingest it, so Run must refuse.
func TestRV71AddedPartyIsNotSkippedInSilence(t *testing.T) {
	b := setup(t)
	deposit := partiesLedger(t, b)
	before := readState(t, b.db)
	require.Equal(t, []string{treasury}, before.Checkpoint.Parties, "the first Run records its parties")

	err := runParties(t, b, ingest.Config{Parties: []string{treasury, depositParty}})
	require.Error(t, err, "Run with an added party resumed from the checkpoint and returned nil: B's deposit before it was never ingested (ingested %d times)", ingestedTimes(t, b, deposit.UpdateID))
	require.ErrorIs(t, err, ingest.ErrPartiesChanged)
	for _, want := range []string{treasury, depositParty, "AcceptPartiesChange", "schema", "would never be ingested"} {
		require.ErrorContains(t, err, want)
	}
	require.ErrorContains(t, err, fmt.Sprintf("offset %d", before.Checkpoint.Offset))
	require.Equal(t, before, readState(t, b.db), "the refused Run wrote nothing")

	// Another party instead of the treasury (A → B) is refused alike.
	require.ErrorIs(t, runParties(t, b, ingest.Config{Parties: []string{depositParty}}), ingest.ErrPartiesChanged)
	require.Equal(t, before, readState(t, b.db))
}

// AcceptPartiesChange goes on: the new parties are recorded, a warning
// names the added party, what follows the checkpoint is ingested for both,
// and the added party's deposit before it is not. The recorded set is then
// the one compared.
func TestRV71AcceptPartiesChange(t *testing.T) {
	b := setup(t)
	deposit := partiesLedger(t, b)
	later, err := b.p.Append(simpleTx(depositParty, 1002))
	require.NoError(t, err)

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	require.NoError(t, runParties(t, b, ingest.Config{Parties: []string{depositParty, treasury}, AcceptPartiesChange: true, Logger: log}))
	st := readState(t, b.db)
	require.Equal(t, []string{depositParty, treasury}, st.Checkpoint.Parties)
	require.Equal(t, 1, ingestedTimes(t, b, later[0].UpdateID), "B's transaction after the checkpoint is ingested")
	require.Zero(t, ingestedTimes(t, b, deposit.UpdateID), "B's deposit before the checkpoint is skipped, as the warning says")
	require.Contains(t, logs.String(), "level=WARN")
	require.Contains(t, logs.String(), "added=["+depositParty+"]")

	require.NoError(t, runParties(t, b, ingest.Config{Parties: []string{treasury, depositParty}}), "the recorded set is accepted")
	require.ErrorIs(t, runParties(t, b, ingest.Config{}), ingest.ErrPartiesChanged, "removing a party is a change too")
}

// Order and duplicates in Config.Parties are no change; the parties are
// recorded sorted.
func TestRV71PartiesComparedAsASet(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 5)
	runToEnd(t, b, ingest.Config{Parties: []string{treasury, depositParty}})
	_, err := b.p.Append(simpleTx(depositParty, 1000))
	require.NoError(t, err)
	require.NoError(t, runParties(t, b, ingest.Config{Parties: []string{depositParty, treasury, depositParty}}))
	require.Equal(t, []string{depositParty, treasury}, readState(t, b.db).Checkpoint.Parties)
}

// An Integration DB migrated from version 9 has a checkpoint but no parties
// recorded: the next Run adopts Config.Parties without error, and compares
// with them from then on. A rewind keeps them.
func TestRV71PartiesAdoptedFromVersion9(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 10)
	runToEnd(t, b, ingest.Config{})
	ctx := context.Background()
	require.NoError(t, schema.Migrate(ctx, b.db, schema.WithTargetVersion(9)))
	require.NoError(t, schema.Migrate(ctx, b.db))
	st := readState(t, b.db)
	require.Nil(t, st.Checkpoint.Parties, "a checkpoint from version 9 has no parties")

	appendN(t, b.p, 10, 10)
	var logs bytes.Buffer
	require.NoError(t, runParties(t, b, ingest.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
	requireAllOnce(t, b)
	after := readState(t, b.db)
	require.Equal(t, []string{treasury}, after.Checkpoint.Parties)
	require.Contains(t, logs.String(), "recorded the treasury parties")

	rewindToStart(t, b, after.Checkpoint.Offset)
	require.Equal(t, []string{treasury}, readState(t, b.db).Checkpoint.Parties, "the rewind kept the parties")
	require.ErrorIs(t, runParties(t, b, ingest.Config{Parties: []string{depositParty}}), ingest.ErrPartiesChanged)
	require.NoError(t, runParties(t, b, ingest.Config{}))
	requireAllOnce(t, b)
}

// An ingester that lost its lock (its session ended) reads the checkpoint
// again once it has taken the lock back: parties another ingester recorded
// meanwhile (with AcceptPartiesChange) stop it.
func TestRV71PartiesCheckedAfterTheLockIsTakenAgain(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(10*time.Millisecond))
	appendN(t, b.p, 0, 10)
	ing := newIngester(t, b, ingest.Config{LockCheck: 20 * time.Millisecond, LockPoll: 10 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- ing.Run(context.Background()) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)

	_, err := b.db.Exec(`UPDATE txhistory.checkpoint SET parties = $1`, pq.StringArray{depositParty})
	require.NoError(t, err)
	killLockHolder(t, b.db)
	select {
	case err := <-done:
		require.ErrorIs(t, err, ingest.ErrPartiesChanged)
	case <-time.After(10 * time.Second):
		ing.Stop()
		t.Fatalf("still running with the parties changed underneath: %v", <-done)
	}
}
