package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The Integration DB is restored again during step 3 and the Progress
// callback panics before the procedure's next read of the gate (a bug in
// the exchange's dashboard code, say). Run panics through and, on the way
// out, its deferred release gives up the wait lock; the gate is the
// backup's, open. An API server's Store that last read the gate open
// before step 1 cannot tell (not rewound for it): as after ctx's end
// (TestRV173RestoredAgainThenCtxEndedLeavesTheGateClosed) and a panic in
// Restore, the gate must be closed again before the locks go.
func TestRV175ProgressPanicAfterRestoredAgainLeavesTheGateClosed(t *testing.T) {
	_, panicked := leaveStep3RestoredAgain(t, "Progress panicked", func(_ context.CancelFunc, pr withdrawal.RestoreProgress) {
		var shown map[string]time.Time
		shown["ingested"] = pr.Ingested
	})
	require.NotNil(t, panicked, "Run did not pass the Progress callback's panic on")
}
