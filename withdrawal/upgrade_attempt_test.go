package withdrawal_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestNoPreapprovalOnRetryAfterUpgrade is TestNoPreapprovalOnRetryDoesNot-
// RefundASubmittedTransfer across the upgrade that adds
// submit_attempted_at (migration 008): the build before it was stopped (a
// deploy) after the participant accepted the withdrawal's transfer but
// before "submitted" committed. The withdrawal is requested, and that
// build recorded no attempt: migration 008 must count one, so that the new
// build's first round, finding no pre-approval, does not refund the user
// while the transfer pays out.
func TestNoPreapprovalOnRetryAfterUpgrade(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	e.tick(e.world.Now())

	// The old build (schema version 7) submitted it; the mark was lost.
	require.NoError(t, schema.Migrate(e.ctx, e.db, schema.WithTargetVersion(7)))
	var onLedger *ledger.Transaction = e.transfer(w, "0") // accepted by the participant, not ingested yet
	// The new build starts: Migrate, then the Automation.
	require.NoError(t, schema.Migrate(e.ctx, e.db))
	require.Equal(t, withdrawal.StatusRequested, e.get(w.ID).Status)

	retry := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		return fmt.Errorf("receiver %s: %w", w.Receiver, withdrawal.ErrNoPreapproval)
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: retry, Logger: quietLog})
	require.NoError(t, err)
	_, err = auto.RunOnce(e.ctx)
	require.NoError(t, err)

	err = e.run(e.batch(e.world.Now(), onLedger))
	got := e.get(w.ID)
	require.Empty(t, refunds(t, e.db), "the user was refunded (withdrawal %s, ingestion: %v) while the transfer paid out", got.Status, err)
	require.NoError(t, err)
	require.Equal(t, withdrawal.StatusCompleted, got.Status)
}
