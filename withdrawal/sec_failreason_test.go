package withdrawal_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A Submitter's ErrNoPreapproval whose message quotes a NUL byte, invalid
// UTF-8 (a participant's status message is percent-decoded bytes) and a
// connection string with its password: the automation stores the message
// as the withdrawal's failure reason, a text column the exchange may show.
// The withdrawal must be failed and refunded in that round, its reason
// without the password, as the automation's log of the same error is.
func TestSecSubmitterFailureReason(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	const password = "pw-secret-9f3a"
	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		return fmt.Errorf("submitting %s: the participant said \"no pre-approval for receiver\x00\xff\" (looked up in postgres://svc:%s@db:5432/x): %w",
			w.ID, password, withdrawal.ErrNoPreapproval)
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)
	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Failed: 1}, round)
	w := e.get("wd-1")
	require.Equal(t, withdrawal.StatusFailed, w.Status)
	require.Contains(t, w.FailureReason, "no pre-approval for receiver")
	require.NotContains(t, w.FailureReason, password)
	require.Equal(t, map[string]string{"wd-1": "6"}, refunds(t, e.db))
}
