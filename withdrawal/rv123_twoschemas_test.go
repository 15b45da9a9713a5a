package withdrawal_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// Two treasuries, a schema each, in one database restored from one backup
// (docs/OPERATIONS.md, "Several treasuries in one Integration DB"): one
// RestoreProcedure per schema, at once, whose Restore steps meet so that
// both gates are closed before the one restore. Each closes its restored
// gate again, waits for its own schema's ingested record time and opens
// its own gate; neither touches the other's.
func TestRV123OneRestoreOfTwoSchemas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	ingested := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	schemas := []string{"hot", "cold"}
	stores := map[string]*withdrawal.Store{}
	for _, s := range schemas {
		require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema(s)))
		_, err := db.ExecContext(ctx, `INSERT INTO `+schema.Qualify(s, "checkpoint")+` (ledger_offset) VALUES (7)`)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, `INSERT INTO `+schema.Qualify(s, "synchronizer_time")+` VALUES ('sync::1', $1, 7)`, ingested)
		require.NoError(t, err)
		st, err := withdrawal.NewStore(db, withdrawal.Config{Schema: s, Treasury: s + "::1", Logger: quietLog})
		require.NoError(t, err)
		stores[s] = st
	}

	ready := make(chan string, 2) // a procedure reached its Restore step: its gate is closed
	restored := make(chan struct{})
	var restoreErr error
	restoreAll := func(ctx context.Context) error {
		defer close(restored)
		for range schemas {
			<-ready
		}
		for _, s := range schemas {
			g, err := stores[s].Gate(ctx)
			require.NoError(t, err)
			require.False(t, g.Enabled, "schema %s: its gate is closed before the restore", s)
		}
		// What the restore brings back in every schema: the backup's gate.
		for _, s := range schemas {
			if _, restoreErr = db.ExecContext(ctx, `UPDATE `+schema.Qualify(s, "withdrawal_gate")+
				` SET enabled = true, reason = 'from the backup', changed_at = now() - interval '1 hour'`); restoreErr != nil {
				return restoreErr
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	reports := map[string]*withdrawal.RestoreReport{}
	errs := map[string]error{}
	var mu sync.Mutex
	for i, s := range schemas {
		p := withdrawal.RestoreProcedure{Store: stores[s], TSafe: ingested.Add(-time.Minute), PollInterval: time.Millisecond, Logger: quietLog,
			Restore: func(ctx context.Context) error {
				ready <- s
				if i == 0 {
					return restoreAll(ctx)
				}
				<-restored
				return restoreErr
			}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := p.Run(ctx)
			mu.Lock()
			reports[s], errs[s] = rep, err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, s := range schemas {
		require.NoError(t, errs[s], s)
		require.True(t, reports[s].RestoredGateOpen, s)
		g, err := stores[s].Gate(ctx)
		require.NoError(t, err)
		require.True(t, g.Enabled, s)
		log, err := stores[s].GateLog(ctx)
		require.NoError(t, err)
		require.Len(t, log, 3, "schema %s: closed, closed again after the restore, opened", s)
	}
}
