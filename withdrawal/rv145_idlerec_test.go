package withdrawal_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A DBA's idle_session_timeout (PostgreSQL 14 and later; here 200ms)
// shorter than a Submit call (here 400ms). The Automation records a
// submission's attempt on a second connection, which then sits idle,
// outside any transaction, while the Submitter waits for the participant;
// when the participant refuses the only attempt (ErrNoPreapproval), that
// connection clears the attempt so that the withdrawal fails at once and
// its funds are refunded. The server had ended the idle session meanwhile:
// the clearing failed, the round with it, and the withdrawal stayed
// requested with its attempt recorded, left to expire at trecTgt with the
// user's funds reserved until then.
func TestRV145IdleSessionTimeoutDuringSubmit(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	holdings := e.mint("100")
	e.create(e.request("wd-np", "10", holdings[0]))
	_, err := e.db.ExecContext(e.ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_session_timeout = %L', current_database(), '200ms'); END $$`)
	require.NoError(t, err)
	e.db.SetMaxIdleConns(0) // closes the idle connections: new ones take the setting
	e.db.SetMaxIdleConns(2)
	var timeout string
	require.NoError(t, e.db.GetContext(e.ctx, &timeout, `SHOW idle_session_timeout`))
	require.Equal(t, "200ms", timeout)

	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		time.Sleep(400 * time.Millisecond) // the participant takes its time, then refuses
		return fmt.Errorf("submitting %s: %w", w.ID, withdrawal.ErrNoPreapproval)
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)
	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Failed: 1}, round)
	w := e.get("wd-np")
	require.Equal(t, withdrawal.StatusFailed, w.Status)
	require.Contains(t, w.FailureReason, "pre-approval")
	require.Equal(t, map[string]string{"wd-np": "11"}, refunds(t, e.db))
}
