package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// Step 4 of the restore procedure closes the gate again when its opening
// fails, for a database restored again whose gate is open. It must not
// close a gate someone else opened after step 2's closure: the doc leaves
// such a change as they set it. Here an operator opens the gate by hand
// while step 3 ends (a newer release's tool, which then migrates the
// schema in a rolling upgrade), and step 4's opening fails on the schema's
// version.
func TestRestoreProcedureStep4FailureLeavesAGateOpenedByHand(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	opened, err := restoreWithStep3End(e, func() {
		require.NoError(t, e.store.Enable(e.ctx, "opened by hand by the operator"))
		_, err := e.db.ExecContext(e.ctx, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
		require.NoError(t, err)
	})
	require.True(t, opened, "the test never opened the gate by hand")
	require.ErrorIs(t, err, schema.ErrUnknownVersion)
	g, gerr := e.store.Gate(e.ctx)
	require.NoError(t, gerr)
	require.True(t, g.Enabled, "step 4's failure (%v) closed the gate the operator opened by hand after step 2 (now %q)", err, g.Reason)
	require.Equal(t, "opened by hand by the operator", g.Reason)
}
