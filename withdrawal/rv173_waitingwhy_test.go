package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// An operator opens the gate by hand during step 3 (without cancelling the
// procedure first). Create still refuses while the procedure runs (its
// wait lock), which fails safe; but its error must not tell the operator
// that the database was restored again, which did not happen, and send
// them looking for a second restore: it names both causes and what ends
// the wait.
func TestRV173GateOpenedByHandDuringStep3IsNotCalledARestore(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	tSafe := time.Now()
	var created error
	_, err := withdrawal.RestoreProcedure{
		Store: e.store, TSafe: tSafe, PollInterval: 10 * time.Millisecond, Logger: quietLog,
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done || created != nil {
				return
			}
			require.NoError(t, e.store.Enable(e.ctx, "opened by hand"))
			_, created = e.store.Create(e.ctx, e.request("wd-hand", "5", cids[0]))
			require.Error(t, created)
			e.tick(tSafe.Add(time.Second)) // step 4 then refuses over the change
		},
	}.Run(e.ctx)
	require.ErrorContains(t, err, "the gate was opened again")
	require.ErrorIs(t, created, withdrawal.ErrWithdrawalsDisabled)
	t.Logf("Create during step 3, the gate opened by hand: %v", created)
	require.ErrorContains(t, created, "but the Integration DB restore procedure, which closed it, has not opened it")
	require.ErrorContains(t, created, "opened by hand", "the error names only a restore that did not happen")
}
