package withdrawal_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRV188CommitFailureNamesTheWithdrawal: the exchange's Refunder writes
// its credit into a table with a deferred constraint (an account that
// must exist by COMMIT), and the transaction that fails a withdrawal —
// the Automation's, on ErrNoPreapproval, or MarkFailed's — fails at its
// COMMIT. The error said "withdrawal: commit: pq: insert or update on
// table ... violates foreign key constraint", naming no withdrawal: the
// Automation's "round failed" log line, repeated every round, and the
// support tool's error could not tell which one keeps failing.
func TestRV188CommitFailureNamesTheWithdrawal(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	store := e.deferredCreditStore()
	cids := e.mint("10")
	e.tick(e.world.Now())
	e.create(e.request("wd-auto", "5", cids[0]))

	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(_ context.Context, w *withdrawal.Withdrawal) error {
			return fmt.Errorf("receiver %s: %w", w.Receiver, withdrawal.ErrNoPreapproval)
		})})
	require.NoError(t, err)
	_, err = auto.RunOnce(e.ctx)
	require.Error(t, err, "the refund's deferred constraint fails the commit")
	require.Contains(t, err.Error(), `"wd-auto"`, "the Automation's failed commit names the withdrawal")

	// The refused submission left it requested, its attempt cleared: support
	// may fail it, and meets the same constraint.
	_, err = store.MarkFailed(e.ctx, "wd-auto", "support")
	require.Error(t, err, "the refund's deferred constraint fails the commit")
	require.Contains(t, err.Error(), `"wd-auto"`, "MarkFailed's failed commit names the withdrawal")
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-auto").Status)
}
