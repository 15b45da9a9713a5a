package withdrawal_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// Ingestion stopped (an Ingester that ended with ErrParticipantRestored or
// ErrPruned, or one nobody restarted after the restore): step 3 waits for
// ever. Once the ingested record time has stood still for a
// while (StillAfter), its progress says so and what to check, rather than only
// repeating the same record time.
func TestRestoreProcedureSaysWhenIngestionStandsStill(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.mint("10")
	var mu sync.Mutex
	var msgs []string
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	_, err := withdrawal.RestoreProcedure{Store: e.store, TSafe: e.world.Now().Add(time.Hour), PollInterval: 5 * time.Millisecond,
		ReportInterval: 100 * time.Millisecond, StillAfter: 300 * time.Millisecond, Logger: quietLog,
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done {
				return
			}
			mu.Lock()
			msgs = append(msgs, pr.Message)
			mu.Unlock()
			if strings.Contains(pr.Message, "has not moved") {
				cancel()
			}
		}}.Run(ctx)
	require.ErrorIs(t, err, context.Canceled, "the procedure waited %d polls without saying that ingestion stands still", len(msgs))
	mu.Lock()
	defer mu.Unlock()
	last := msgs[len(msgs)-1]
	require.Contains(t, last, "is ingestion running?")
	require.NotContains(t, msgs[0], "has not moved", "said at once, before StillAfter passed")
}

// A failed read of the ingested record time (a database blip) is not a
// move: step 3 goes on reporting the record time it last read, and how
// long that has stood still, instead of reporting nothing ingested and
// starting StillAfter over, which database errors recurring within
// StillAfter would keep from ever asking whether ingestion is running.
func TestRestoreProcedureFailedReadIsNotAMove(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.mint("10")
	ingested, err := e.store.IngestedTime(e.ctx)
	require.NoError(t, err)
	require.False(t, ingested.IsZero())
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	var during, after withdrawal.RestoreProgress
	state := 0
	_, err = withdrawal.RestoreProcedure{Store: e.store, TSafe: e.world.Now().Add(time.Hour), PollInterval: 5 * time.Millisecond,
		ReportInterval: time.Hour, StillAfter: 300 * time.Millisecond, Logger: quietLog,
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done {
				return
			}
			switch state {
			case 0: // standing still: make the next read fail
				if strings.Contains(pr.Message, "has not moved") {
					_, err := e.db.ExecContext(e.ctx, `ALTER TABLE txhistory.checkpoint RENAME TO checkpoint_away`)
					require.NoError(t, err)
					state++
				}
			case 1: // the poll whose read failed
				during = pr
				_, err := e.db.ExecContext(e.ctx, `ALTER TABLE txhistory.checkpoint_away RENAME TO checkpoint`)
				require.NoError(t, err)
				state++
			case 2:
				after = pr
				cancel()
			}
		}}.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 2, state, "the read never failed")
	require.True(t, during.Ingested.Equal(ingested), "a failed read reported as the ingested record time %v: %s", during.Ingested, during.Message)
	require.Contains(t, during.Message, "has not moved", "a failed read started StillAfter over")
	require.True(t, after.Ingested.Equal(ingested), "ingested %v after the failed read", after.Ingested)
	require.Contains(t, after.Message, "has not moved", "the read after a failed one started StillAfter over: %s", after.Message)
}
