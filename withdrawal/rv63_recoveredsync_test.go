package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Config.Synchronizer is A; the exchange sent two requests on B
// (Request.SynchronizerID) after the backup, and both are lost in the
// restore (the backup has nothing in flight). During step 3 the transfer of
// wd-lost-1 is ingested from B and the RecoveryHook re-creates it: a lost
// request was sent on B. The transfer of wd-lost-2 commits on B before
// tSafe, but the participant publishes A's progress past tSafe first.
// RestoreProcedure must not open the gate on A's clock while B, where it
// has just seen a lost request go, is before tSafe: the user of wd-lost-2,
// whose debit the restore undid, could request the same funds again.
func TestRestoreGateWaitsForRecoveredWithdrawalsSynchronizer(t *testing.T) {
	l, holdings := newTwoSyncLive(t, "100", "100", "100")
	var err error
	require.NoError(t, l.settle())

	// What the lost requests were (not in the restored database).
	lost1Req := l.request("wd-lost-1", "40", holdings[0])
	lost1Req.SynchronizerID = syncB
	lost1 := &withdrawal.Withdrawal{Request: lost1Req}
	lost2Req := l.request("wd-lost-2", "40", holdings[1])
	lost2Req.SynchronizerID = syncB
	lost2 := &withdrawal.Withdrawal{Request: lost2Req}
	tSafe := lost2.TrecTgt.Add(time.Second) // later than every in-flight trecTgt
	on1 := l.transferOn(lost1, syncB, lost1.TrecTgt.Add(-2*time.Second))
	on2 := l.transferOn(lost2, syncB, lost2.TrecTgt.Add(-time.Second))

	done := make(chan restoreResult, 1)
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	go func() {
		rep, err := withdrawal.RestoreProcedure{Store: l.store, TSafe: tSafe, PollInterval: 5 * time.Millisecond, Logger: quietLog}.Run(ctx)
		done <- restoreResult{rep, err}
	}()
	time.Sleep(200 * time.Millisecond) // the procedure is waiting (step 3)

	// wd-lost-1's transfer on B is ingested and recovered.
	_, err = l.p.Append(on1)
	require.NoError(t, err)
	require.NoError(t, l.settle())
	require.True(t, l.get(lost1.ID).Recovered)

	// A passes tSafe, B's transaction not published yet; then B's is, and
	// B passes tSafe.
	res, openedEarly, again := l.passAThenB(t, tSafe, done, holdings[2], on2)
	require.NoError(t, res.err)
	recovered := l.get(lost2.ID)
	require.True(t, recovered.Recovered)

	assert.False(t, openedEarly, "the gate opened on A's clock while the transfer of wd-lost-2 on B (record time %s < tSafe %s) was not ingested, "+
		"though wd-lost-1, recovered from B during the wait, showed that lost requests went there; a second request of the same funds was then created (err %v)",
		on2.RecordTime.Format(time.RFC3339Nano), tSafe.Format(time.RFC3339Nano), again)
	assert.True(t, recovered.CreatedAt.Before(res.rep.EnabledAt), "wd-lost-2 recovered after the gate opened")
	assert.Equal(t, []string{syncB}, res.rep.Synchronizers, "RestoreReport.Synchronizers does not list B")
}
