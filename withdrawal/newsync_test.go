package withdrawal_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncB is a second synchronizer the treasury starts using: nothing of it
// is in synchronizer_time yet. The default one (ledgertest.DefaultSynchronizer)
// is A.
const syncB = "second-domain::1220bb"

// settle waits until ingestion has reached the participant's ledger end, or
// has stopped; it returns the error ingestion stopped with (nil if it is
// still running).
func (l *live) settle() error {
	l.t.Helper()
	end := l.p.LedgerEnd()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-l.ingDone:
			l.stopIng = nil
			return err
		default:
		}
		cp, _, err := l.cps.Get(l.ctx, l.db)
		require.NoError(l.t, err)
		if cp.Offset >= end {
			return nil
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("ingestion did not reach the ledger end %d: checkpoint offset %d", end, cp.Offset)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// transferOn is w's 1-step transfer as synchronizer sync commits it at
// record time rt.
func (l *live) transferOn(w *withdrawal.Withdrawal, sync string, rt time.Time) *ledger.Transaction {
	tx := l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
		InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.1"})
	tx.SynchronizerID, tx.RecordTime = sync, rt
	return tx
}

// listSynchronizers makes l's store (and the Reconciler its ingester
// runs) take its clock over synchronizers A and B (Config.Synchronizers),
// as a treasury that uses both configures it.
func (l *live) listSynchronizers() {
	l.t.Helper()
	store, err := withdrawal.NewStore(l.db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog,
		Synchronizers: []string{ledgertest.DefaultSynchronizer, syncB}})
	require.NoError(l.t, err)
	l.store = store
}

// The withdrawal names no synchronizer; the treasury uses A and B
// (Config.Synchronizers). Its transfer commits on B, the treasury's first
// transaction there, one second before trecTgt by B's record time; the
// participant publishes A's progress past trecTgt first (offsets do not
// follow record times across synchronizers). The withdrawal is not expired
// and refunded on A's clock alone.
func TestNewSynchronizerTransferNotExpiredByAnotherSynchronizersClock(t *testing.T) {
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	l.listSynchronizers()
	holdings := l.mintAndCatchUp("100")

	w := l.submitted("wd-on-b", "40", holdings[0])
	onB := l.transferOn(w, syncB, w.TrecTgt.Add(-time.Second))

	// A's record time passes trecTgt (an OffsetCheckpoint: B has no
	// update on the participant yet, so it names A only) ...
	l.advance(w.TrecTgt.Sub(l.now) + time.Second)
	l.caughtUp()
	afterA := l.get(w.ID).Status
	// ... then the participant publishes B's transaction, committed before trecTgt.
	_, err := l.p.Append(onB)
	require.NoError(t, err)
	ingErr := l.settle()

	cp, _, err := l.cps.Get(l.ctx, l.db)
	require.NoError(t, err)
	t.Logf("synchronizer_time after A passed trecTgt %s, before B's transfer at %s: status %s; now %v",
		w.TrecTgt.Format(time.RFC3339Nano), onB.RecordTime.Format(time.RFC3339Nano), afterA, cp.RecordTimes)
	assert.Equal(t, withdrawal.StatusSubmitted, afterA, "expired on synchronizer A's clock while its transfer could still (and did) commit on B")
	assert.Empty(t, refunds(t, l.db), "the user was refunded although the transfer paid out: a double payout")
	assert.Equal(t, withdrawal.StatusCompleted, l.get(w.ID).Status)
	assert.NoError(t, ingErr, "ingestion stopped")
}

// The Integration DB is restored from a backup whose synchronizer_time
// knows synchronizer A only; the treasury had started using B after the
// backup (Config.Synchronizers lists both), and the request of wd-lost,
// written after the backup, is lost. Its transfer commits on B before
// trecTgt < tSafe, but the participant publishes it after A's record time
// has passed tSafe. RestoreProcedure does not open the gate before that
// transfer is ingested (runbook step 3).
func TestRestoreGateWaitsForNewSynchronizer(t *testing.T) {
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	l.listSynchronizers()
	holdings := l.mintAndCatchUp("100")

	// What the lost request was (not in the restored database).
	lost := &withdrawal.Withdrawal{Request: l.request("wd-lost", "40", holdings[0])}
	tSafe := lost.TrecTgt.Add(time.Second) // later than every in-flight trecTgt
	onB := l.transferOn(lost, syncB, lost.TrecTgt.Add(-time.Second))

	type result struct {
		rep *withdrawal.RestoreReport
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	go func() {
		rep, err := withdrawal.RestoreProcedure{Store: l.store, TSafe: tSafe, PollInterval: 5 * time.Millisecond, Logger: quietLog}.Run(ctx)
		done <- result{rep, err}
	}()

	// A passes tSafe; B's transaction is not published yet.
	l.advance(tSafe.Sub(l.now) + time.Second)
	l.caughtUp()
	var res result
	openedEarly := false
	select {
	case res = <-done:
		openedEarly = true
	case <-time.After(2 * time.Second):
	}

	// The participant publishes B's transaction, then B's time passes tSafe.
	_, err := l.p.Append(onB)
	require.NoError(t, err)
	l.p.AdvanceTime(syncB, tSafe.Add(time.Second))
	require.NoError(t, l.settle())
	if !openedEarly {
		res = <-done
	}
	require.NoError(t, res.err)
	recovered := l.get(lost.ID)
	require.True(t, recovered.Recovered)

	g, err := l.store.GateLog(l.ctx)
	require.NoError(t, err)
	last := g[len(g)-1]
	t.Logf("gate opened at %s with ingested record time %s (tSafe %s); wd-lost recovered at %s from B's transfer at record time %s",
		res.rep.EnabledAt.Format(time.RFC3339Nano), last.IngestedRecordTime.Format(time.RFC3339Nano), tSafe.Format(time.RFC3339Nano),
		recovered.CreatedAt.Format(time.RFC3339Nano), onB.RecordTime.Format(time.RFC3339Nano))
	assert.False(t, openedEarly, "the gate opened while the transfer of a lost withdrawal (record time %s < tSafe %s, synchronizer B) was not ingested",
		onB.RecordTime.Format(time.RFC3339Nano), tSafe.Format(time.RFC3339Nano))
	assert.True(t, recovered.CreatedAt.Before(res.rep.EnabledAt), "wd-lost recovered after the gate opened")
}

// Ingestion catches up (after an Integration DB restore, or any downtime):
// the part of the stream before the ledger end carries the treasury's
// transactions only, no OffsetCheckpoints. A restored withdrawal's transfer
// is the treasury's first transaction on B, committed before trecTgt by
// B's record time, and published after treasury transactions on A whose
// record times are past trecTgt. With Config.Synchronizers listing A and
// B, the catch-up does not expire and refund it.
func TestCatchUpDoesNotExpireTransferOnNewSynchronizer(t *testing.T) {
	l := newLive(t, pgtest.NewDB(t), withdrawal.ReconcilerConfig{})
	l.listSynchronizers()
	holdings := l.mintAndCatchUp("100")
	w := l.submitted("wd-restored", "40", holdings[0])
	// The backup is taken here; ingestion stops (the disaster).
	l.stopIngester()

	// Meanwhile on the ledger: treasury transactions on A past trecTgt
	// (more than a batch of them), then the transfer on B.
	late := l.world.Mint(treasury, "1")
	late.RecordTime = w.TrecTgt.Add(time.Second)
	l.append(late)
	for range 20 {
		l.append(l.world.Mint(treasury, "1"))
	}
	_, err := l.p.Append(l.transferOn(w, syncB, w.TrecTgt.Add(-time.Second)))
	require.NoError(t, err)

	// The restored database resumes ingestion from its checkpoint.
	l.startIngester()
	ingErr := l.settle()
	assert.Empty(t, refunds(t, l.db), "the user was refunded although the transfer paid out: a double payout")
	assert.Equal(t, withdrawal.StatusCompleted, l.get(w.ID).Status)
	assert.NoError(t, ingErr, "ingestion stopped")
}

// TestSynchronizersConfig: Synchronizer and Synchronizers exclude each
// other, and an empty id is refused; until every listed synchronizer has a
// record time ingested the store's clock is unknown.
func TestSynchronizersConfig(t *testing.T) {
	db := pgtest.NewDB(t)
	_, err := withdrawal.NewStore(db, withdrawal.Config{Synchronizer: "a", Synchronizers: []string{"b"}})
	require.ErrorContains(t, err, "not both")
	_, err = withdrawal.NewStore(db, withdrawal.Config{Synchronizers: []string{"a", ""}})
	require.ErrorContains(t, err, "empty synchronizer id")

	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	l.listSynchronizers()
	l.mintAndCatchUp("100")
	now, err := l.store.IngestedTime(l.ctx)
	require.NoError(t, err)
	require.True(t, now.IsZero(), "B has no record time: the clock is unknown, got %s", now)
	l.p.AdvanceTime(syncB, l.now.Add(time.Minute))
	require.NoError(t, l.settle())
	require.Eventually(t, func() bool {
		now, err = l.store.IngestedTime(l.ctx)
		require.NoError(t, err)
		return !now.IsZero()
	}, 10*time.Second, 10*time.Millisecond, "B's record time arrives with an offset checkpoint")
}

// TestUnknownClockIsLogged: a listed synchronizer with no record time
// (not used yet, or a wrong id) keeps anything from expiring; the store
// says so in its log, naming it, at most once a minute.
func TestUnknownClockIsLogged(t *testing.T) {
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(context.Background(), db))
	var logs bytes.Buffer
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder,
		Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
		Synchronizers: []string{ledgertest.DefaultSynchronizer, "typo::1220"}})
	require.NoError(t, err)
	times := map[string]time.Time{ledgertest.DefaultSynchronizer: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, err = store.ExpireDue(context.Background(), times)
	require.NoError(t, err)
	_, err = store.ExpireDue(context.Background(), times)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(logs.String(), "do not expire"), logs.String())
	require.Contains(t, logs.String(), "typo::1220")
}
