package withdrawal_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The participant accepted a withdrawal's transfer, and then the commit of
// the Automation's "submitted" fails (the connection dropped, the server
// restarted): the round's error, which Run logs, is all the operator sees
// of it. It must name the withdrawal whose transfer is on its way though
// the record says requested.
func TestLostSubmittedMarkNamesTheWithdrawal(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	e.tick(e.world.Now())
	// A commit that fails after the mark: a deferred check raising at commit.
	_, err := e.db.ExecContext(e.ctx, `CREATE FUNCTION public.lose_commit() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'connection lost at commit'; END $$;
		CREATE CONSTRAINT TRIGGER lose_commit AFTER UPDATE ON txhistory.withdrawal DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW WHEN (NEW.status = 'submitted') EXECUTE FUNCTION public.lose_commit()`)
	require.NoError(t, err)

	submitted := 0
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			submitted++
			return nil
		})})
	require.NoError(t, err)
	_, err = auto.RunOnce(e.ctx)
	require.ErrorContains(t, err, "connection lost at commit")
	require.Equal(t, 1, submitted)
	require.Equal(t, withdrawal.StatusRequested, e.get(w.ID).Status, "the mark was lost")
	require.ErrorContains(t, err, `"wd-1"`, "which withdrawal's transfer is on its way, unrecorded")
}
