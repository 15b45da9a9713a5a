package dedup_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// PruneBefore keeps what the validator node restore runbook's default mode
// replays: everything ingested after the last transaction before tRecovery
// on the checkpoint's synchronizer, on every synchronizer. Another
// synchronizer's clock may be behind: its transactions ingested after that
// point can have record times before tRecovery, and without their ids the
// replay would apply them again.
func TestPruneKeepsWhatTheRunbookReplays(t *testing.T) {
	ctx := context.Background()
	db, s := migratedStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	on := func(sync, id string, off int64, rt time.Time) *ledger.Transaction {
		tr := tx(id, off, rt)
		tr.SynchronizerID = sync
		return tr
	}
	// In offset order; the checkpoint is at a3, on A. B runs ten seconds
	// behind A.
	txs := []*ledger.Transaction{
		on("A", "a1", 1, t0),
		on("B", "b1", 2, t0.Add(-10*time.Second)),
		on("A", "a2", 3, t0.Add(20*time.Second)), // offRecovery is at or after its offset
		on("B", "b2", 4, t0.Add(11*time.Second)),
		on("A", "a3", 5, t0.Add(30*time.Second)), // tRecovery
		on("B", "b3", 6, t0.Add(21*time.Second)),
	}
	sqlTx := db.MustBegin()
	_, err := s.ClaimTx(ctx, sqlTx, txs)
	require.NoError(t, err)
	_, err = sqlTx.Exec(`INSERT INTO txhistory.checkpoint (ledger_offset, update_id, update_offset, record_time, synchronizer_id) VALUES (5, 'a3', 5, $1, 'A')`, t0.Add(30*time.Second))
	require.NoError(t, err)
	require.NoError(t, sqlTx.Commit())

	// A retention far shorter than the history's age.
	pruned, err := s.PruneBefore(ctx, db, t0.Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 3, pruned)
	for id, kept := range map[string]bool{"a1": false, "b1": false, "a2": false, "b2": true, "a3": true, "b3": true} {
		ok, err := s.Contains(ctx, db, id)
		require.NoError(t, err)
		require.Equal(t, kept, ok, "%s kept", id)
	}
	// Pruning again deletes nothing more: the point is still where it was.
	pruned, err = s.PruneBefore(ctx, db, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Zero(t, pruned)
}
