package dedup_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
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
	for _, tr := range txs { // a batch each
		claim(t, db, s, tr)
	}
	_, err := db.Exec(`INSERT INTO txhistory.checkpoint (ledger_offset, update_id, update_offset, record_time, synchronizer_id) VALUES (6, 'a3', 5, $1, 'A')`, t0.Add(30*time.Second))
	require.NoError(t, err)

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

// After a validator node restore with lower offsets, ids the replay dropped
// keep the offsets they were first ingested at, above those of what came
// after. What the next replay meets is still kept.
func TestPruneAfterARestoreWithLowerOffsets(t *testing.T) {
	ctx := context.Background()
	db, s := migratedStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	claim(t, db, s, on("A", "w", 990, t0.Add(-time.Minute)))
	claim(t, db, s, on("A", "x", 1000, t0))
	// The restore: the participant has x at 500 now; the replay drops it.
	require.Empty(t, claim(t, db, s, on("A", "x", 500, t0)))
	// Then y on B (its clock five seconds behind) and z on A.
	claim(t, db, s, on("B", "y", 510, t0.Add(-5*time.Second)))
	claim(t, db, s, on("A", "z", 520, t0.Add(10*time.Second)))
	_, err := db.Exec(`INSERT INTO txhistory.checkpoint (ledger_offset, update_id, update_offset, record_time, synchronizer_id) VALUES (520, 'z', 520, $1, 'A')`, t0.Add(10*time.Second))
	require.NoError(t, err)

	pruned, err := s.PruneBefore(ctx, db, t0.Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 2, pruned, "w and x")
	// The next restore's replay starts after x (at 500): it meets y and z.
	for _, id := range []string{"y", "z"} {
		ok, err := s.Contains(ctx, db, id)
		require.NoError(t, err)
		require.True(t, ok, "%s pruned", id)
	}
}

// claim claims txs in a transaction of their own and returns the new ones.
func claim(t *testing.T, db *sqlx.DB, s *dedup.Store, txs ...*ledger.Transaction) []*ledger.Transaction {
	t.Helper()
	sqlTx := db.MustBegin()
	fresh, err := s.ClaimTx(context.Background(), sqlTx, txs)
	require.NoError(t, err)
	require.NoError(t, sqlTx.Commit())
	return fresh
}

// on is tx on synchronizer sync.
func on(sync, id string, off int64, rt time.Time) *ledger.Transaction {
	tr := tx(id, off, rt)
	tr.SynchronizerID = sync
	return tr
}

// After a validator node restore with lower offsets, the last transaction
// before tRecovery on the checkpoint's synchronizer and another
// synchronizer's transaction after it may be claimed in one batch, so with
// one ingested_at. The other's id is after it (by its offset in that batch)
// and the next restore's replay meets it: it must be kept, though offsets
// from before the first restore are higher.
func TestPruneKeepsWhatFollowsTheLastTransactionInItsBatch(t *testing.T) {
	ctx := context.Background()
	db, s := migratedStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	claim(t, db, s, on("A", "w", 1000, t0.Add(-time.Minute)))
	// The restore: the participant's offsets are lower now. One batch holds
	// x on A and then y on B (its clock five seconds behind).
	claim(t, db, s, on("A", "x", 500, t0), on("B", "y", 510, t0.Add(-5*time.Second)))
	claim(t, db, s, on("A", "z", 520, t0.Add(10*time.Second)))
	_, err := db.Exec(`INSERT INTO txhistory.checkpoint (ledger_offset, update_id, update_offset, record_time, synchronizer_id) VALUES (520, 'z', 520, $1, 'A')`, t0.Add(10*time.Second))
	require.NoError(t, err)

	pruned, err := s.PruneBefore(ctx, db, t0.Add(time.Hour))
	require.NoError(t, err)
	// The next restore's replay starts after x (the −1µs look-up of z's
	// record time): it meets y and z.
	for _, id := range []string{"y", "z"} {
		ok, err := s.Contains(ctx, db, id)
		require.NoError(t, err)
		require.True(t, ok, "%s pruned: the next restore's replay applies it again", id)
	}
	require.EqualValues(t, 2, pruned, "w and x")
}
