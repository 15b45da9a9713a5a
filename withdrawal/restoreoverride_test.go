package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// Step 3 of the restore procedure can wait for hours (until the ingested
// record time passes tSafe). Meanwhile an operator closes the gate for a
// reason of their own: suspicious withdrawals, an incident at the
// exchange. Step 4 must not open it over that closure: the procedure may
// only undo its own step 2. It stops with an error saying who closed the
// gate, leaving it closed.
func TestRestoreProcedureDoesNotOpenAGateClosedByAnother(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.mint("10")
	ledgerNow := e.world.Now()
	closed := false
	rep, err := withdrawal.RestoreProcedure{
		Store: e.store, TTL: ttl, Now: func() time.Time { return ledgerNow }, PollInterval: time.Millisecond, Logger: quietLog,
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done || pr.Waited == 0 {
				return
			}
			if !closed {
				closed = true
				require.NoError(t, e.store.Disable(e.ctx, "incident 4711: hold all withdrawals"))
			}
			e.tick(e.times[e.world.SynchronizerID].Add(ttl / 2))
		},
	}.Run(e.ctx)
	require.True(t, closed)
	g, gerr := e.store.Gate(e.ctx)
	require.NoError(t, gerr)
	require.False(t, g.Enabled, "the procedure opened the gate the operator closed for incident 4711 (report %+v, err %v)", rep, err)
	require.ErrorContains(t, err, "incident 4711")
}
