package withdrawal_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	ledgerNow := e.world.Now()

	opened := false
	p := withdrawal.RestoreProcedure{
		Store:        e.store,
		TTL:          ttl,
		Now:          func() time.Time { return ledgerNow },
		PollInterval: time.Millisecond,
		Logger:       quietLog,
		Restore:      func(ctx context.Context) error { return nil },
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !pr.Done && pr.Waited > 0 {
				e.tick(e.times[e.world.SynchronizerID].Add(ttl / 2)) // ingestion moves on
			}
			if pr.Step == withdrawal.StepWait && pr.Done && !opened && strings.HasPrefix(pr.Message, "ingested record time") {
				opened = true
				require.NoError(t, e.store.Enable(e.ctx, "opened by hand by the operator"))
				_, err := e.db.ExecContext(e.ctx, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
				require.NoError(t, err)
			}
		},
	}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	_, err := p.Run(ctx)
	require.True(t, opened, "the test never opened the gate by hand")
	require.ErrorIs(t, err, schema.ErrUnknownVersion)
	g, gerr := e.store.Gate(e.ctx)
	require.NoError(t, gerr)
	require.True(t, g.Enabled, "step 4's failure (%v) closed the gate the operator opened by hand after step 2 (now %q)", err, g.Reason)
	require.Equal(t, "opened by hand by the operator", g.Reason)
}
