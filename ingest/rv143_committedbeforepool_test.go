package ingest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// A batch that does not move the offset (an OffsetCheckpoint at the
// committed offset) fails once with a transient fault, and meanwhile the
// application lowered the pool's limit to the connection the lock holds
// (TestRV127PoolLimitLoweredDuringRun). Its retry first reads the stored
// checkpoint (committedBefore), which waits out Config.LockCheck and meets
// ErrPoolExhausted: Run must fail with it then, not drop it and wait out
// LockCheck a second time at the retry's start.
func TestRV143CheckpointBatchRetryFailsAfterOneLockCheck(t *testing.T) {
	s := &checkpointServer{rts: []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	lis := serveLedger(t, s)
	b := scriptedBundle(t, nil)
	b.db.SetMaxOpenConns(2)
	const lockCheck = 3 * time.Second
	var begin atomic.Pointer[time.Time]
	h := cpEffectsHandler(func(time.Time) error {
		if begin.Load() == nil {
			now := time.Now()
			begin.Store(&now)
			b.db.SetMaxOpenConns(1)
			return &pq.Error{Code: "40001", Message: "could not serialize access (injected)"}
		}
		return nil
	})
	_, err := b.db.Exec(`CREATE TABLE cp_effects (from_offset bigint, to_offset bigint, record_time timestamptz)`)
	require.NoError(t, err)
	ing, err := ingest.New(b.db, dial(t, lis.Addr().String(), nil), ingest.Config{Parties: []string{treasury}, Handler: h, Logger: quietLog,
		LockCheck: lockCheck, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, StartOffset: 5})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = ing.Run(ctx)
	require.ErrorIs(t, err, ingest.ErrPoolExhausted)
	require.NotNil(t, begin.Load(), "the handler never saw the checkpoint")
	took := time.Since(*begin.Load())
	require.Less(t, took, lockCheck+lockCheck*2/3, "Run failed %v after the batch's fault, LockCheck %v: the wait ran more than once", took, lockCheck)
}
