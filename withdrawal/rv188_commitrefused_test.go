package withdrawal_test

import (
	"errors"
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// TestRV188ARefundRefusedAtCommitDoesNotStopTheOthers: as
// TestARefundRefusedForOneWithdrawalDoesNotStopTheOthers, but the
// exchange's Refunder writes its credit into a table whose constraint is
// checked at COMMIT (DEFERRABLE INITIALLY DEFERRED, as a double-entry
// ledger's balance check often is), and the credit of wd-1 violates it
// every time. The Refunder returns nil; the Automation's mark of wd-1
// failed does not commit. The refused attempt was cleared before the
// mark, so wd-1 stays requested, oldest and not retried: every round
// found it first again and returned the COMMIT's error before wd-2, which
// was never submitted and would expire, for one withdrawal the exchange's
// books refuse.
func TestRV188ARefundRefusedAtCommitDoesNotStopTheOthers(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	store := e.deferredCreditStore("user-wd-2")
	e.requestTwo()

	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Submitter: noPreapprovalFor("wd-1"), Logger: quietLog})
	require.NoError(t, err)
	errs := e.runRounds(auto, 4)
	require.NotEmpty(t, errs, "wd-1's mark never commits")
	require.Equal(t, withdrawal.StatusRequested, e.get("wd-1").Status)
	require.Equal(t, withdrawal.StatusSubmitted, e.get("wd-2").Status,
		"wd-2 never submitted: every round stopped at wd-1's mark, refused at COMMIT (%d of 4 rounds failed: %v)", len(errs), errors.Join(errs...))
}
