package checkpoint_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func setup(t *testing.T) (*sqlx.DB, *checkpoint.Store) {
	t.Helper()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(context.Background(), db, schema.WithSchema("ck")))
	s, err := checkpoint.NewStore("ck")
	require.NoError(t, err)
	return db, s
}

func advance(t *testing.T, db *sqlx.DB, s *checkpoint.Store, prev int64, cp checkpoint.Checkpoint) error {
	t.Helper()
	tx := db.MustBegin()
	if err := s.AdvanceTx(context.Background(), tx, prev, cp); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func TestInitGetAdvance(t *testing.T) {
	ctx := context.Background()
	db, s := setup(t)
	_, found, err := s.Get(ctx, db)
	require.NoError(t, err)
	require.False(t, found)

	cp, err := s.Init(ctx, db, 5)
	require.NoError(t, err)
	require.Equal(t, int64(5), cp.Offset)
	cp, err = s.Init(ctx, db, 99)
	require.NoError(t, err)
	require.Equal(t, int64(5), cp.Offset, "Init does not overwrite")

	t1 := time.Date(2026, 1, 1, 0, 0, 0, 123456000, time.UTC)
	next := checkpoint.Checkpoint{Offset: 10, UpdateID: "u10", RecordTime: t1, SynchronizerID: "sync-a",
		RecordTimes: map[string]time.Time{"sync-a": t1, "sync-b": t1.Add(time.Hour)}}
	require.NoError(t, advance(t, db, s, 5, next))
	got, found, err := s.Get(ctx, db)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, int64(10), got.Offset)
	require.Equal(t, "u10", got.UpdateID)
	require.True(t, got.RecordTime.Equal(t1), "microsecond precision survives")
	require.Equal(t, "sync-a", got.SynchronizerID)
	require.True(t, got.RecordTimeOn("sync-b").Equal(t1.Add(time.Hour)))
	require.True(t, got.MaxRecordTime().Equal(t1.Add(time.Hour)))

	// Record times never go backwards through AdvanceTx.
	older := got.Clone()
	older.Offset = 11
	older.RecordTimes["sync-b"] = t1
	require.NoError(t, advance(t, db, s, 10, older))
	got, _, _ = s.Get(ctx, db)
	require.True(t, got.RecordTimeOn("sync-b").Equal(t1.Add(time.Hour)))
}

func TestAdvanceDetectsConflictsAndRefusesBackwards(t *testing.T) {
	ctx := context.Background()
	db, s := setup(t)
	_, err := s.Init(ctx, db, 0)
	require.NoError(t, err)
	require.NoError(t, advance(t, db, s, 0, checkpoint.Checkpoint{Offset: 20}))
	err = advance(t, db, s, 0, checkpoint.Checkpoint{Offset: 30})
	require.ErrorIs(t, err, checkpoint.ErrConflict)
	// A conflicting advance writes no synchronizer record time either.
	tx := db.MustBegin()
	err = s.AdvanceTx(ctx, tx, 0, checkpoint.Checkpoint{Offset: 30, RecordTimes: map[string]time.Time{"sync-x": time.Now()}})
	require.ErrorIs(t, err, checkpoint.ErrConflict)
	var n int
	require.NoError(t, tx.Get(&n, `SELECT count(*) FROM `+schema.Qualify("ck", "synchronizer_time")))
	require.Zero(t, n)
	require.NoError(t, tx.Rollback())
	err = advance(t, db, s, 20, checkpoint.Checkpoint{Offset: 19})
	require.ErrorContains(t, err, "backwards")
	got, _, _ := s.Get(ctx, db)
	require.Equal(t, int64(20), got.Offset)
}

func TestRewindIsAudited(t *testing.T) {
	ctx := context.Background()
	db, s := setup(t)
	_, err := s.Init(ctx, db, 0)
	require.NoError(t, err)
	t5 := time.Date(2026, 2, 1, 0, 0, 5, 0, time.UTC)
	require.NoError(t, advance(t, db, s, 0, checkpoint.Checkpoint{Offset: 900, UpdateID: "u900", RecordTime: t5, SynchronizerID: "s",
		RecordTimes: map[string]time.Time{"s": t5}}))

	tRec := t5.Add(-time.Second)
	tx := db.MustBegin()
	require.NoError(t, s.RewindTx(ctx, tx, checkpoint.Rewind{From: 900, To: 1400, RecoveryTime: tRec, SynchronizerID: "s", Mode: "non-unique", Note: "drill"}))
	require.NoError(t, tx.Commit())
	got, _, _ := s.Get(ctx, db)
	require.Equal(t, int64(1400), got.Offset)
	require.True(t, got.RecordTimeOn("s").Equal(tRec), "rewind sets the synchronizer's record time back")
	rw, err := s.Rewinds(ctx, db)
	require.NoError(t, err)
	require.Len(t, rw, 1)
	require.Equal(t, int64(900), rw[0].From)
	require.Equal(t, int64(1400), rw[0].To)
	require.Equal(t, "non-unique", rw[0].Mode)
	require.True(t, rw[0].RecoveryTime.Time.Equal(tRec))

	tx = db.MustBegin()
	err = s.RewindTx(ctx, tx, checkpoint.Rewind{From: 900, To: 1})
	require.ErrorIs(t, err, checkpoint.ErrConflict)
	require.NoError(t, tx.Rollback())
}

func TestNewStoreValidatesSchema(t *testing.T) {
	_, err := checkpoint.NewStore("x; DROP TABLE y")
	require.Error(t, err)
}

// Get reads the checkpoint and the synchronizers' record times as one
// committed batch left them, even while a writer advances them: under READ
// COMMITTED two statements would see two snapshots, and a checkpoint at one
// offset with the record times of a later one (which an Ingester loading it
// takes for a restored participant).
func TestGetIsOneSnapshotWhileAdvancing(t *testing.T) {
	ctx := context.Background()
	db, s := setup(t)
	_, err := s.Init(ctx, db, 0)
	require.NoError(t, err)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(offset int64) time.Time { return base.Add(time.Duration(offset) * time.Millisecond) }

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	writerDone := make(chan error, 1)
	go func() {
		defer close(writerDone)
		for off := int64(1); ctx.Err() == nil; off++ {
			next := checkpoint.Checkpoint{Offset: off, UpdateID: "u", RecordTime: at(off), SynchronizerID: "sync-a",
				RecordTimes: map[string]time.Time{"sync-a": at(off), "sync-b": at(off)}}
			tx, err := db.BeginTxx(ctx, nil)
			if err == nil {
				if err = s.AdvanceTx(ctx, tx, off-1, next); err == nil {
					err = tx.Commit()
				} else {
					_ = tx.Rollback()
				}
			}
			if err != nil && ctx.Err() == nil {
				writerDone <- err
				return
			}
		}
	}()

	// Read for two seconds, and on until the writer has committed more than
	// 100 advances however slow the machine (a CI runner shares its cores):
	// the assertion below is what shows that Get raced with the writer.
	reads, moved := 0, int64(0)
	start := time.Now()
	for ; time.Since(start) < 2*time.Second || (moved <= 100 && time.Since(start) < 2*time.Minute); reads++ {
		cp, found, err := s.Get(ctx, db)
		require.NoError(t, err)
		require.True(t, found)
		if cp.Offset == 0 {
			continue
		}
		moved = cp.Offset
		for _, id := range []string{"sync-a", "sync-b"} {
			require.Truef(t, cp.RecordTimes[id].Equal(at(cp.Offset)), "read %d: checkpoint at offset %d with %s's record time %s, want %s",
				reads, cp.Offset, id, cp.RecordTimes[id].Format(time.RFC3339Nano), at(cp.Offset).Format(time.RFC3339Nano))
		}
	}
	cancel()
	require.NoError(t, <-writerDone)
	require.Greater(t, moved, int64(100), "the writer advanced the checkpoint while Get read it")
}
