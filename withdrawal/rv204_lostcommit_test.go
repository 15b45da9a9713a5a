package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/internal/lostcommit"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// lostCommitStore returns a Store of e's database, with e's configuration,
// whose connections go through a proxy that loses the reply to the COMMIT
// it is armed for: the transaction commits, and the Store cannot tell.
func (e *env) lostCommitStore(cfg withdrawal.Config) (*withdrawal.Store, *lostcommit.Proxy) {
	e.t.Helper()
	var name string
	require.NoError(e.t, e.db.GetContext(e.ctx, &name, `SELECT current_database()`))
	p := lostcommit.New(e.t, pgtest.SharedServer(e.t).DSN(name))
	db, err := sqlx.Open("postgres", p.DSN())
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = db.Close() })
	if cfg.Treasury == "" {
		cfg.Treasury = treasury
	}
	if cfg.Refunder == nil {
		cfg.Refunder = refunder
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLog
	}
	s, err := withdrawal.NewStore(db, cfg)
	require.NoError(e.t, err)
	return s, p
}

// Step 4's opening commits, and the connection drops before its reply:
// the gate is open, by the procedure, past tSafe. Run must not report a
// failed step 4 (RestoreProcedure says a failed Run leaves the gate closed,
// or as someone else set it): the operator would take withdrawals for
// disabled while the Automation resumes, and run the procedure again,
// closing the gate for another wait.
func TestRV204LostReplyToTheOpeningOfStep4(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.mint("10")
	tSafe := e.world.Now()
	e.tick(tSafe.Add(time.Minute))
	store, proxy := e.lostCommitStore(withdrawal.Config{})

	proxy.Arm("step 4")
	rep, err := withdrawal.RestoreProcedure{Store: store, TSafe: tSafe, PollInterval: time.Millisecond, Logger: quietLog}.Run(e.ctx)
	require.Equal(t, 1, proxy.Lost(), "the reply to the opening's COMMIT was not lost")
	g, gerr := e.store.Gate(e.ctx)
	require.NoError(t, gerr)
	require.True(t, g.Enabled, "the opening committed")
	require.NoError(t, err, "Run reports a failure, though its own opening committed and the gate is open")
	require.Equal(t, g.ChangedAt, rep.EnabledAt)
	require.True(t, rep.Ingested.After(tSafe))
	log, err := e.store.GateLog(e.ctx)
	require.NoError(t, err)
	require.True(t, log[len(log)-1].Enabled)
	require.Equal(t, rep.Ingested, log[len(log)-1].IngestedRecordTime)
}

// The participant took the withdrawal's transfer, the Automation marks it
// submitted, and its COMMIT goes through while the connection drops
// before the reply. The round must not say that the transfer is
// unrecorded, the withdrawal still requested and to be handed to the
// Submitter again: it is submitted, and no round hands it over again. It
// counts the submission, as for a mark that reported its commit.
func TestRV204LostReplyToTheSubmittedMark(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	w := e.create(e.request("wd-1", "60", e.mint("80")...))
	e.tick(e.world.Now())
	store, proxy := e.lostCommitStore(withdrawal.Config{})
	submitted := 0
	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			submitted++
			return nil
		})})
	require.NoError(t, err)

	proxy.Arm("submitted_at = now()")
	round, err := auto.RunOnce(e.ctx)
	require.Equal(t, 1, proxy.Lost(), "the reply to the mark's COMMIT was not lost")
	require.Equal(t, withdrawal.StatusSubmitted, e.get(w.ID).Status, "the mark committed")
	require.NoError(t, err, "the round says the transfer is unrecorded, though its mark committed")
	require.Equal(t, 1, round.Submitted)
	round, err = auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Zero(t, round.Submitted)
	require.Equal(t, 1, submitted)
}

// The participant refused the withdrawal's only submission (no transfer
// pre-approval), the Automation marks it failed, refunding the user, and
// its COMMIT goes through while the connection drops before the reply:
// the withdrawal is failed, refunded once. The round counts it failed,
// and fails no more than the mark did.
func TestRV204LostReplyToTheFailedMark(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	w := e.create(e.request("wd-1", "60", e.mint("80")...))
	e.tick(e.world.Now())
	store, proxy := e.lostCommitStore(withdrawal.Config{})
	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Logger: quietLog, Submitter: noPreapprovalFor("wd-1")})
	require.NoError(t, err)

	proxy.Arm("failure_reason = $3")
	round, err := auto.RunOnce(e.ctx)
	require.Equal(t, 1, proxy.Lost(), "the reply to the mark's COMMIT was not lost")
	require.Equal(t, withdrawal.StatusFailed, e.get(w.ID).Status, "the mark committed")
	var refunds int
	require.NoError(t, e.db.GetContext(e.ctx, &refunds, `SELECT count(*) FROM public.refund WHERE withdrawal_id = 'wd-1'`))
	require.Equal(t, 1, refunds)
	require.NoError(t, err, "the round fails, though its mark committed")
	require.Equal(t, 1, round.Failed)
}

// The Automation records its attempt before the Submitter runs; that
// record commits, and the connection drops before its reply: the round
// fails before handing the withdrawal over. Nothing was submitted, yet the
// withdrawal now shows an attempt. The next round's Submit is the only
// one, and the participant refuses it (no transfer pre-approval): the
// withdrawal must be failed and its user refunded, as for any first
// refusal, not left requested to expire at its trecTgt as one an earlier
// submission of which may have committed; nor may support's MarkFailed be
// refused meanwhile for a submission that never was.
func TestRV204LostReplyToTheAttemptRecord(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	w := e.create(e.request("wd-1", "60", e.mint("80")...))
	e.tick(e.world.Now())
	store, proxy := e.lostCommitStore(withdrawal.Config{})
	submits := 0
	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Logger: quietLog,
		Submitter: withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
			submits++
			return withdrawal.ErrNoPreapproval
		})})
	require.NoError(t, err)

	proxy.Arm("COALESCE(submit_attempted_at")
	_, _ = auto.RunOnce(e.ctx)
	require.Equal(t, 1, proxy.Lost(), "the reply to the attempt's COMMIT was not lost")
	require.Zero(t, submits)
	require.Nil(t, e.get(w.ID).SubmitAttemptedAt, "an attempt is recorded though nothing was handed to the Submitter")

	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, submits)
	require.Equal(t, 1, round.Failed)
	require.Equal(t, withdrawal.StatusFailed, e.get(w.ID).Status)
}
