package withdrawal_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// Run logs when the Automation pauses (the gate closed) and resumes (the
// gate open again). A round that fails — the database unreachable, here
// the gate unreadable — says nothing about the gate: Run must not log
// "resumed: the withdrawal gate is open" for it while the gate is closed
// (during a restore, an operator reads that as the gate having opened).
func TestRunDoesNotReportResumedOnAFailedRound(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	require.NoError(t, e.store.Disable(e.ctx, "Integration DB restore"))
	var logs syncbuf.Buffer
	rounds := make(chan withdrawal.Round, 100)
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{
		Submitter:    withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error { return nil }),
		PollInterval: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnRound: func(r withdrawal.Round) { rounds <- r },
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- auto.Run(ctx) }()
	require.True(t, (<-rounds).Paused)

	// The gate cannot be read for a while (a restore in progress).
	_, err = e.db.ExecContext(e.ctx, `ALTER TABLE txhistory.withdrawal_gate RENAME TO withdrawal_gate_away`)
	require.NoError(t, err)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "round failed"); {
		require.True(t, time.Now().Before(deadline), "no failed round logged: %s", logs.String())
		time.Sleep(5 * time.Millisecond)
	}
	<-rounds
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	_, err = e.db.ExecContext(e.ctx, `ALTER TABLE txhistory.withdrawal_gate_away RENAME TO withdrawal_gate`)
	require.NoError(t, err)
	require.NotContains(t, logs.String(), "automation resumed", "a failed round was reported as the gate open")
}

// A Submitter's error goes to the log redacted, as a failed round's does:
// a submitter that reaches the participant through a database or a URL
// with a password in it (its own DSN in a driver's error) must not have
// the password written to the exchange's logs.
func TestSubmissionFailureIsLoggedRedacted(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("10")
	e.create(e.request("wd-1", "5", cids[0]))
	e.tick(e.world.Now())
	var logs syncbuf.Buffer
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{
		Submitter: withdrawal.SubmitFunc(func(context.Context, *withdrawal.Withdrawal) error {
			return errors.New(`cannot reach "postgres://submitter:hunter2secret@db.internal/ledger"`)
		}),
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	require.NoError(t, err)
	round, err := auto.RunOnce(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, round.Errors, "%+v", round)
	require.Contains(t, logs.String(), "submission failed, will retry")
	require.Contains(t, logs.String(), "db.internal", "the error is logged")
	require.NotContains(t, logs.String(), "hunter2secret")
}
