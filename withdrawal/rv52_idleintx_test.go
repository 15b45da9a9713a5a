package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestDisableWaitsForSubmission with a role's or database's
// idle_in_transaction_session_timeout (here 300ms) shorter than a Submit
// call: the round's transaction sits idle while the Submitter waits for
// the participant, and the timeout must not end its session, which would
// release the gate it holds in share mode (Disable would return while the
// transfer is being submitted) and lose the record of the submission.
func TestRV52SubmissionOutlastsIdleInTransactionTimeout(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10", "10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.create(e.request("wd-2", "5", cids[1]))
	_, err := e.db.ExecContext(e.ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_in_transaction_session_timeout = %L', current_database(), '300ms'); END $$`)
	require.NoError(t, err)
	e.db.SetMaxIdleConns(0) // closes the idle connections: new sessions take the setting
	e.db.SetMaxIdleConns(2)
	var timeout string
	require.NoError(t, e.db.GetContext(e.ctx, &timeout, `SHOW idle_in_transaction_session_timeout`))
	require.Equal(t, "300ms", timeout)

	entered, release := make(chan string, 2), make(chan struct{})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			entered <- w.ID
			<-release
			return nil
		})})
	require.NoError(t, err)
	type result struct {
		r   withdrawal.Round
		err error
	}
	rounds := make(chan result, 1)
	go func() {
		r, err := auto.RunOnce(e.ctx)
		rounds <- result{r, err}
	}()
	require.Equal(t, "wd-1", <-entered)
	disabled := make(chan error, 1)
	go func() { disabled <- e.store.Disable(e.ctx, "restore") }()
	select {
	case err := <-disabled:
		close(release)
		<-rounds
		t.Fatalf("Disable returned during a submission: %v", err)
	case <-time.After(time.Second):
	}
	close(release)
	require.NoError(t, <-disabled)
	res := <-rounds
	require.NoError(t, res.err)
	require.Equal(t, withdrawal.Round{Submitted: 1, Paused: true, GateReason: "restore"}, res.r)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-1").Status)
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-2").Status)
	require.Empty(t, entered)
}
