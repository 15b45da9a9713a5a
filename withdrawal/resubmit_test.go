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

// The Automation stops (crash, shutdown) after the participant accepted a
// withdrawal's transfer but before "submitted" committed: the withdrawal is
// still requested and the next round hands it to the Submitter again, as
// documented. If the Submitter now finds no transfer pre-approval (the one
// the first transfer used has expired, or the receiver withdrew it), the
// withdrawal must not be marked failed and refunded: its first transfer is
// on the ledger, and the user would be paid twice. A withdrawal that may
// already have been submitted is declared failed only by expiry (ingested
// record time past trecTgt with no transfer seen).
func TestNoPreapprovalOnRetryDoesNotRefundASubmittedTransfer(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	e.tick(e.world.Now())

	var onLedger *ledger.Transaction // committed on the ledger, not ingested yet
	ctx1, crash := context.WithCancel(e.ctx)
	first := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		onLedger = e.transfer(w, "0") // the participant accepted the command
		crash()                       // the process dies before the mark commits
		return nil
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: first, Logger: quietLog})
	require.NoError(t, err)
	_, err = auto.RunOnce(ctx1)
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, onLedger)
	require.Equal(t, withdrawal.StatusRequested, e.get(w.ID).Status, "the mark was lost with the crash")

	// Restarted; the receiver's pre-approval is gone by now.
	retryWithoutPreapproval(t, e, w, onLedger)
}

// retryWithoutPreapproval runs an Automation round whose Submitter finds no
// pre-approval for w, then ingests onLedger, w's transfer from an earlier
// submission: w completes and nobody is refunded.
func retryWithoutPreapproval(t *testing.T, e *env, w *withdrawal.Withdrawal, onLedger *ledger.Transaction) {
	t.Helper()
	retry := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		return fmt.Errorf("receiver %s: %w", w.Receiver, withdrawal.ErrNoPreapproval)
	})
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: retry, Logger: quietLog})
	require.NoError(t, err)
	_, err = auto.RunOnce(e.ctx)
	require.NoError(t, err)

	// Ingestion now sees the first transfer.
	err = e.run(e.batch(e.world.Now(), onLedger))
	got := e.get(w.ID)
	require.Empty(t, refunds(t, e.db), "the user was refunded (withdrawal %s, ingestion: %v) while the transfer paid out", got.Status, err)
	require.NoError(t, err)
	require.Equal(t, withdrawal.StatusCompleted, got.Status)
}

// The Automation records an attempt on a second connection while its
// transaction holds the first: a pool of one would wait for ever, so it is
// refused, at NewAutomation and at every round.
func TestAutomationRefusesAPoolOfOne(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	none := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error { return nil })
	e.db.SetMaxOpenConns(1)
	_, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: none, Logger: quietLog})
	require.ErrorIs(t, err, withdrawal.ErrPoolTooSmall)

	e.db.SetMaxOpenConns(0)
	auto, err := withdrawal.NewAutomation(e.store, withdrawal.AutomationConfig{Submitter: none, Logger: quietLog})
	require.NoError(t, err)
	e.db.SetMaxOpenConns(1)
	_, err = auto.RunOnce(e.ctx)
	require.ErrorIs(t, err, withdrawal.ErrPoolTooSmall)
	e.db.SetMaxOpenConns(0)
}

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

	retryWithoutPreapproval(t, e, w, onLedger)
}
