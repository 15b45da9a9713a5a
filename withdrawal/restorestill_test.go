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
