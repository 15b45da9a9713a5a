package withdrawal_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The withdrawal service of the previous release (a rollback, or a replica
// left on it) must not submit withdrawals on a schema a newer release
// migrated: that release's migrations may have changed what the Automation
// must record (008's submit_attempted_at is the example: a build before it
// records no attempt, and after the roll forward nothing counts them). The
// Ingester refuses such a schema; the Automation, which the withdrawal
// service runs without an Ingester, hands the withdrawal to the Submitter.
func TestAutomationRefusesASchemaNewerThanThisBuild(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	e.tick(e.world.Now())
	_, err := e.db.ExecContext(e.ctx, `INSERT INTO txhistory.txhistory_migration (version, name) VALUES ($1, 'from_a_newer_release')`, schema.Latest()+1)
	require.NoError(t, err)

	var submitted []string
	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		submitted = append(submitted, w.ID)
		return nil
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)
	_, err = auto.RunOnce(e.ctx)
	require.Empty(t, submitted, "the Automation submitted on a schema at version %03d (this build knows %03d)", schema.Latest()+1, schema.Latest())
	require.ErrorIs(t, err, schema.ErrUnknownVersion)
	require.Equal(t, withdrawal.StatusRequested, e.get(w.ID).Status)
}
