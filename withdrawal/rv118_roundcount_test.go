package withdrawal_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A submission whose Submit succeeded and whose mark as submitted was
// written, but whose COMMIT failed (a deferred check refusing it here; a
// connection lost at COMMIT alike): the withdrawal stays requested and the
// next round hands it to the Submitter again. Round.Submitted counted it
// all the same, so that the failed round and the next one counted one
// withdrawal submitted twice: Round counts the withdrawals marked
// submitted (or failed), which this one was not, the first time.
func TestRoundDoesNotCountASubmissionWhoseMarkDidNotCommit(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.tick(e.world.Now())
	// The first mark as submitted is refused at COMMIT.
	_, err := e.db.ExecContext(e.ctx, `
		CREATE SEQUENCE txhistory.rv118_refused;
		CREATE FUNCTION txhistory.rv118_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			-- A sequence: not rolled back with the COMMIT it refuses.
			IF NEW.status = 'submitted' AND nextval('txhistory.rv118_refused') = 1 THEN
				RAISE EXCEPTION 'rv118: refused at commit';
			END IF;
			RETURN NULL;
		END $$;
		CREATE CONSTRAINT TRIGGER rv118_refuse AFTER UPDATE ON txhistory.withdrawal
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION txhistory.rv118_refuse();`)
	require.NoError(t, err)

	var handed atomic.Int32
	submitter := withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { handed.Add(1); return nil })
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)

	first, err := auto.RunOnce(e.ctx)
	require.Error(t, err, "the COMMIT was not refused: the test did not inject what it meant to")
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)
	second, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-1").Status)
	require.Equal(t, int32(2), handed.Load())
	require.Equal(t, 0, first.Submitted, "the round whose mark did not commit counted the withdrawal submitted")
	require.Equal(t, 1, first.Submitted+second.Submitted, "one withdrawal marked submitted, counted %d times", first.Submitted+second.Submitted)
}
