package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// A restored node still recovering from the synchronizer when the runbook
// runs (likely when the Integration DB backup is newer than the node
// backup, both restored): the error after Options.Timeout says what to do
// next, as the errors an operator meets on the way do.
func TestNotCaughtUpSaysWhatNext(t *testing.T) {
	b := newBundle(t)
	restoredAfter(t, b, script(30), 10, "", ledgertest.WithCatchUp(true))
	o := options(recovery.ModeNonUnique)
	o.Timeout = 100 * time.Millisecond
	_, err := recovery.Plan(context.Background(), b.db, b.client, o)
	require.ErrorIs(t, err, recovery.ErrNotCaughtUp)
	for _, s := range []string{"connected to synchronizer", "run the runbook again", "nothing was written"} {
		require.Contains(t, err.Error(), s)
	}
	require.Empty(t, rewinds(t, b))
}
