package withdrawal_test

import (
	"testing"

	"github.com/cantonx/txhistory/withdrawal"
)

// The Automation records a submission's attempt, and clears a refused one,
// in statements of their own on a second connection, which ran at the
// database's default isolation. Under a REPEATABLE READ or SERIALIZABLE
// default (OPERATIONS.md: txhistory's transactions run at READ COMMITTED
// whatever it is), the attempt's guarded UPDATE waiting for a
// cancellation (MarkFailed) of the withdrawal fails with a serialization
// failure (40001) instead of finding it no longer requested: the round
// ends with that error, and the withdrawals after it wait for the next
// round. It must leave the cancelled withdrawal alone, as at READ
// COMMITTED.
func TestAutomationAttemptUnderSerializableDefault(t *testing.T) {
	e := newEnv(t, withdrawal.Config{}, withdrawal.ReconcilerConfig{})
	e.serializableDefault()
	cancelWhileTheRoundWaits(t, e)
}
