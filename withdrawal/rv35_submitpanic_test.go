package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRV35SubmitPanicReleasesTheGate: Submit runs inside the round's SQL
// transaction, which holds the gate row in share mode. A Submitter that
// panics (a nil pointer in the exchange's command builder) unwinds
// through it, and a process that survives the panic (a supervisor that
// recovers and runs the Automation again, net/http around an admin
// endpoint calling RunOnce) with the context still alive kept that
// transaction open for ever: its connection was never returned, and
// Disable, the first step of every runbook, waited for the gate row
// without end.
func TestRV35SubmitPanicReleasesTheGate(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.tick(e.world.Now())

	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { panic("submitter bug") })})
	require.NoError(t, err)
	func() {
		defer func() {
			require.Equal(t, "submitter bug", recover(), "the Submitter's panic did not reach RunOnce's caller")
		}()
		_, _ = auto.RunOnce(e.ctx) // e.ctx lives on, as a supervisor's would
	}()

	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, e.store.Disable(ctx, "incident"), "Disable after a Submitter panicked: the round's transaction still holds the gate")
	require.Zero(t, e.db.Stats().InUse, "connections left in use after the Submitter panicked")
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)
}
