package withdrawal_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRV190AMarkRefusedAtCommitIsNotLoggedAsMade: as
// TestRV188ARefundRefusedAtCommitDoesNotStopTheOthers, wd-1's mark failed
// (no pre-approval) never commits: the exchange's books refuse its
// credit at COMMIT, every round. The Automation logged "withdrawal:
// failed: no transfer pre-approval" for wd-1 before the COMMIT, every
// round: the operator reads wd-1 as failed (and its user refunded) while
// it stays requested, unrefunded, handed to the participant again each
// round. The line is for a mark that committed; the round's failure names
// wd-1 and the COMMIT's error.
func TestRV190AMarkRefusedAtCommitIsNotLoggedAsMade(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	store := e.deferredCreditStore("user-wd-2")
	e.requestTwo()

	sub := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		return fmt.Errorf("receiver %s: %w", w.Receiver, withdrawal.ErrNoPreapproval)
	})
	var logs syncbuf.Buffer
	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Submitter: sub, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	var failedRounds int
	for range 3 {
		round, err := auto.RunOnce(e.ctx)
		if err != nil {
			failedRounds++
			require.Contains(t, err.Error(), `"wd-1"`, "the round's error names wd-1")
		}
		require.LessOrEqual(t, round.Failed, 1, "only wd-2's mark commits")
	}
	require.NotZero(t, failedRounds, "wd-1's mark never commits")
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)
	require.Equal(t, withdrawal.StatusFailed, e.get("wd-2").Status)
	var made []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "withdrawal: failed: no transfer pre-approval") {
			made = append(made, line)
		}
	}
	require.Len(t, made, 1, "a failed mark is logged once, for wd-2, whose mark committed; wd-1's never did:\n%s", strings.Join(made, "\n"))
	require.Contains(t, made[0], "id=wd-2")
}
