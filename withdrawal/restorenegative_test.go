package withdrawal_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cantonx/txhistory/withdrawal"
)

// A negative PollInterval or ReportInterval is refused by name before the
// procedure closes the gate, as NewAutomation refuses its negatives.
func TestRestoreProcedureRefusesNegativeIntervals(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	for _, p := range []withdrawal.RestoreProcedure{
		{Store: e.store, TTL: time.Hour, PollInterval: -time.Millisecond, Logger: quietLog},
		{Store: e.store, TTL: time.Hour, ReportInterval: -time.Millisecond, Logger: quietLog},
	} {
		_, err := p.Run(e.ctx)
		require.Error(t, err)
		require.Regexp(t, `RestoreProcedure\.(PollInterval|ReportInterval) is negative \(-1ms\)`, err.Error())
	}
	g, err := e.store.Gate(e.ctx)
	require.NoError(t, err)
	require.True(t, g.Enabled, "the gate was closed by a procedure refused for its settings")
}

// A negative StillAfter turns step 3's question whether ingestion is
// running off: the ingested record time stands still, and the progress
// goes on repeating it without asking.
func TestRestoreProcedureNegativeStillAfterNeverAsks(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.mint("10")
	var mu sync.Mutex
	var waits int
	var asked []string
	// It stops after enough of step 3's reports to tell, not at a fixed
	// deadline, which steps 1 and 2 and slow polls outlast under -race on
	// a busy machine.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	_, err := withdrawal.RestoreProcedure{Store: e.store, TSafe: e.world.Now().Add(time.Hour), PollInterval: 5 * time.Millisecond,
		ReportInterval: 20 * time.Millisecond, StillAfter: -1, Logger: quietLog,
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			waits++
			if waits == 30 {
				cancel()
			}
			if strings.Contains(pr.Message, "has not moved") {
				asked = append(asked, pr.Message)
			}
		}}.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, asked, "asked whether ingestion is running though StillAfter is negative")
}
