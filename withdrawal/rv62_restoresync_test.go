package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The treasury pays out on synchronizers A and B; the exchange names B on
// the requests it sends there (Request.SynchronizerID), A being
// Config.Synchronizer. The Integration DB is restored: its backup has a
// withdrawal in flight on B (wd-restored), and the request of wd-lost,
// written after the backup, is lost while its transfer commits on B before
// tSafe. The participant publishes A's progress past tSafe before that
// transfer. RestoreProcedure must not open the gate before B, the
// synchronizer its restored withdrawals in flight use, has passed tSafe:
// the user of wd-lost, whose debit the restore undid, could withdraw the
// same funds again, and be paid twice.
func TestRestoreGateWaitsForInFlightRequestsSynchronizer(t *testing.T) {
	l, holdings := newTwoSyncLive(t, "100", "100", "100")
	require.NoError(t, l.settle())

	// wd-restored in flight on B in the backup; wd-lost's request lost.
	_, lost, tSafe, onB := l.inFlightAndLostOnB(t, holdings)

	done := make(chan restoreResult, 1)
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	go func() {
		rep, err := withdrawal.RestoreProcedure{Store: l.store, TSafe: tSafe, PollInterval: 5 * time.Millisecond, Logger: quietLog}.Run(ctx)
		done <- restoreResult{rep, err}
	}()

	// A passes tSafe, B's transaction not published yet; then B's is, and
	// B passes tSafe.
	res, openedEarly, again := l.passAThenB(t, tSafe, done, holdings[2], onB)
	require.NoError(t, res.err)
	recovered := l.get(lost.ID)
	require.True(t, recovered.Recovered)
	require.Equal(t, withdrawal.StatusRecovered, recovered.Status)

	assert.False(t, openedEarly, "the gate opened while the transfer of a lost withdrawal on B (record time %s < tSafe %s) was not ingested, "+
		"B being the synchronizer of the restored withdrawal in flight; a second request of the same funds was then created (err %v)",
		onB.RecordTime.Format(time.RFC3339Nano), tSafe.Format(time.RFC3339Nano), again)
	assert.True(t, recovered.CreatedAt.Before(res.rep.EnabledAt), "wd-lost recovered after the gate opened")
}

// newTwoSyncLive is the rig of the restore tests with two synchronizers:
// the store's clock is A (ledgertest.DefaultSynchronizer, as
// Config.Synchronizer) while the treasury also pays on syncB. It mints
// holdings of the amounts given, catches up, and brings syncB's time to
// l.now (not ingested yet).
func newTwoSyncLive(t *testing.T, amounts ...string) (*live, []string) {
	t.Helper()
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	store, err := withdrawal.NewStore(l.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog,
		Synchronizer: ledgertest.DefaultSynchronizer})
	require.NoError(t, err)
	l.store = store
	holdings := l.mintAndCatchUp(amounts...)
	l.p.AdvanceTime(syncB, l.now)
	return l, holdings
}

// restoreResult is what a RestoreProcedure run in a goroutine returned.
type restoreResult struct {
	rep *withdrawal.RestoreReport
	err error
}

// passAThenB is the end of the restore tests with two synchronizers: A
// passes tSafe while onB, the transfer of a lost withdrawal on B, is not
// published yet. If the procedure (done) ends within 2 s, the gate opened
// early, and the lost withdrawal's user, credited back by the restore,
// requests the same funds (of holding) again. Then onB is published and B
// passes tSafe. It returns the procedure's result, whether the gate
// opened early, and the second request's error.
func (l *live) passAThenB(t *testing.T, tSafe time.Time, done <-chan restoreResult, holding string, onB *ledger.Transaction) (restoreResult, bool, error) {
	t.Helper()
	l.advance(tSafe.Sub(l.now) + time.Second)
	l.caughtUp()
	var res restoreResult
	openedEarly := false
	select {
	case res = <-done:
		openedEarly = true
	case <-time.After(2 * time.Second):
	}
	var again error
	if openedEarly {
		_, again = l.store.Create(l.ctx, l.request("wd-again", "40", holding))
	}
	_, err := l.p.Append(onB)
	require.NoError(t, err)
	l.p.AdvanceTime(syncB, tSafe.Add(time.Second))
	require.NoError(t, l.settle())
	if !openedEarly {
		res = <-done
	}
	return res, openedEarly, again
}

// restoredOnBToReingest is the restore of the rv67 and rv68 tests: a live
// rig on A and B with wd-restored in flight on B and wd-lost's request
// lost (inFlightAndLostOnB), ingestion stopped for the restore, and
// wd-restored's transfer on B, committed after the backup, appended to be
// ingested again. holdings[2] is left to pay with.
func restoredOnBToReingest(t *testing.T) (l *live, holdings []string, lost *withdrawal.Withdrawal, tSafe time.Time, onB *ledger.Transaction) {
	t.Helper()
	l, holdings = newTwoSyncLive(t, "100", "100", "100")
	require.NoError(t, l.settle())
	restored, lost, tSafe, onB := l.inFlightAndLostOnB(t, holdings)
	l.stopIngester()
	_, err := l.p.Append(l.transferOn(restored, syncB, restored.TrecTgt.Add(-2*time.Second)))
	require.NoError(t, err)
	return l, holdings, lost, tSafe, onB
}

// inFlightAndLostOnB creates wd-restored, submitted on syncB (in flight in
// the restored database), and the request of wd-lost on syncB, which the
// restore lost (not stored), and returns them with a tSafe after both
// trecTgt and onB, wd-lost's transfer on B a second before its trecTgt
// (not appended).
func (l *live) inFlightAndLostOnB(t *testing.T, holdings []string) (restored, lost *withdrawal.Withdrawal, tSafe time.Time, onB *ledger.Transaction) {
	t.Helper()
	restored = l.submittedOn(syncB, "wd-restored", "40", holdings[1])
	lostReq := l.request("wd-lost", "40", holdings[0])
	lostReq.SynchronizerID = syncB
	lost = &withdrawal.Withdrawal{Request: lostReq}
	return restored, lost, lost.TrecTgt.Add(time.Second), l.transferOn(lost, syncB, lost.TrecTgt.Add(-time.Second))
}
