package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// rv115Model is what the test knows of one withdrawal.
type rv115Model struct {
	plan      drillPlan
	spec      ledgertest.TransferSpec
	trecTgt   time.Time
	submitted int    // Submit calls
	paid      bool   // its transfer, or its offer accepted, on the ledger
	offer     string // its transfer instruction, to accept later
	queued    bool   // accepted by the participant, to commit later
}

// TestRV115RestoreModel rehearses "Restoring the Canton Integration DB from
// a Backup" over random histories: deposits, withdrawals created and
// submitted by the Automation (committing at once, later, as an offer
// accepted later, never, or failing), time passing so that some lapse, a
// pg_dump of the Integration DB taken at a random point (and an older one),
// more activity after it, then pg_restore inside RestoreProcedure (with
// tokenstd.RenumberAfterRestore), late commits and accepted offers while
// the gate is closed, sometimes a second restore of the same or the older
// backup while the procedure waits, ingestion started again in Restore (as
// the runbook says) or once the procedure waits, sometimes the withdrawal
// service's Automation running throughout with its own Store, and
// ingestion to the end. It checks
// against the undisturbed run (the Integration DB just before the
// disaster, and the ledger): every withdrawal paid out on the ledger
// exists after the restore with its transaction (recovered if its request
// was lost), none is handed to the Submitter twice or while the gate is
// closed, the gate opens only past tSafe, the history, balances and
// deposits credited are the ledger's, and withdrawals and deposits after
// the procedure are not lost.
//
// TXHISTORY_RV115_SEEDS=n runs n seeds (default 4), from
// TXHISTORY_RV115_SEED (default 1) on.
func TestRV115RestoreModel(t *testing.T) {
	n, first := 4, int64(1)
	if s := os.Getenv("TXHISTORY_RV115_SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(t, err)
		n = v
	}
	if s := os.Getenv("TXHISTORY_RV115_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		first = v
	}
	for seed := first; seed < first+int64(n); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { rv115Run(t, seed, false) })
	}
}

// TestRV178RestoreLockModel is TestRV115RestoreModel with the events the
// procedure's restore locks are for, chosen by a second random source (the
// histories are TestRV115RestoreModel's of the same seed): the second
// restore at a random poll of step 3; Stores (and their Automations) that
// read the gate, open, before step 1 calling Create and RunOnce in step 2
// after pg_restore, at every poll of step 3, right after the second
// restore, in step 4 and after Run returns; and, at a random poll, the
// procedure's ctx cancelled, or an operator opening the gate by hand
// (closing it again at the next poll, or not); sometimes the second
// restore, or the cancel, as step 4 begins instead. A procedure that failed is
// run again, with Restore nil and the first run's TSafe and
// Synchronizers, as Run says. Besides TestRV115RestoreModel's checks: none
// of those Stores creates or submits while the procedure holds its locks
// (nor after it returned with the gate closed), and the gate is closed
// after a cancelled procedure, the database restored again or not.
//
// TXHISTORY_RV178_SEEDS=n runs n seeds (default 2), from
// TXHISTORY_RV178_SEED (default 1) on.
func TestRV178RestoreLockModel(t *testing.T) {
	n, first := 2, int64(1)
	if s := os.Getenv("TXHISTORY_RV178_SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(t, err)
		n = v
	}
	if s := os.Getenv("TXHISTORY_RV178_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		first = v
	}
	for seed := first; seed < first+int64(n); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { rv115Run(t, seed, true) })
	}
}

// The events of TestRV178RestoreLockModel at a poll of step 3.
const (
	rv178None         = iota
	rv178Cancel       // the procedure's ctx cancelled
	rv178Enable       // the gate opened by hand
	rv178EnableUndone // the gate opened by hand, closed again at the next poll
	rv178CancelStep4  // the procedure's ctx cancelled as step 4 begins
)

func rv115Run(t *testing.T, seed int64, ext bool) {
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	rng := rand.New(rand.NewSource(seed))
	db := pgtest.NewDB(t)
	var name string
	require.NoError(t, db.Get(&name, `SELECT current_database()`))
	dsn := pgtest.SharedServer(t).DSN(name)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	ctx := l.ctx
	const alice = "alice::1220wd"
	l.append(l.world.Mint(alice, "10000"))
	var free []string // treasury holdings no withdrawal has taken
	mintFree := func(k int) {
		var amounts []string
		for i := 0; i < k; i++ {
			amounts = append(amounts, fmt.Sprint(20+rng.Intn(20)))
		}
		free = append(free, l.mint(amounts...)...)
	}
	mintFree(8)
	l.startCrediting()
	l.caughtUp()

	models := map[string]*rv115Model{}
	var ids []string
	deposits := map[string]decimal.Decimal{}
	gateClosed := false
	// The ledger commits a transfer only before its trecTgt (executeBefore).
	commit := func(m *rv115Model) {
		if !l.now.Add(time.Second).Before(m.trecTgt) {
			m.queued = false // lapsed
			return
		}
		l.append(l.world.Transfer(m.spec))
		m.paid, m.queued = true, false
	}
	accept := func(m *rv115Model) {
		l.append(l.world.Accept(m.offer))
		m.paid, m.offer = true, ""
	}
	var mu sync.Mutex // the model, between the Submitter of a running Automation and the test
	submitter := withdrawal.SubmitFunc(func(_ context.Context, w *withdrawal.Withdrawal) error {
		mu.Lock()
		defer mu.Unlock()
		m := models[w.ID]
		m.submitted++
		if gateClosed {
			t.Errorf("seed %d: %s handed to the Submitter with the gate closed", seed, w.ID)
		}
		m.spec = ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
			InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.1"}
		switch m.plan {
		case planNow:
			commit(m)
		case planLater:
			m.queued = true
		case planOfferOK:
			// The registry creates the instruction only before its
			// executeBefore, as the ledger commits a transfer (commit):
			// the Automation submits by the ingested record time, which
			// may lag the ledger's past trecTgt.
			if !l.now.Add(time.Second).Before(m.trecTgt) {
				return nil // accepted by the participant, refused by the registry
			}
			tx, icid := l.world.Offer(m.spec)
			l.append(tx)
			m.offer = icid
		case planNoPreap:
			return withdrawal.ErrNoPreapproval
		}
		return nil
	})
	auto, err := withdrawal.NewAutomation(l.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)
	// pending commits late transfers and accepts offers, each with
	// probability 1/2 (all: every one).
	pending := func(all bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			m := models[id]
			if !all && rng.Intn(2) == 0 {
				continue
			}
			if m.queued {
				commit(m)
			}
			if m.offer != "" {
				accept(m)
			}
		}
	}
	plans := []drillPlan{planNow, planNow, planLater, planLater, planOfferOK, planNever, planNoPreap}
	n := 0
	dir := t.TempDir()
	backups := map[string]map[string]withdrawal.Status{} // file → the withdrawals it has
	dump := func(file string) {
		l.caughtUp()
		runTool(ctx, t, pgDump, "--format=custom", "--file="+file, "--dbname="+dsn)
		ws, err := l.store.ListByStatus(ctx)
		require.NoError(t, err)
		backups[file] = map[string]withdrawal.Status{}
		for _, w := range ws {
			backups[file][w.ID] = w.Status
		}
	}
	older, backup := filepath.Join(dir, "older.dump"), filepath.Join(dir, "integration.dump")
	const steps = 24
	olderAt := rng.Intn(steps / 2)
	backupAt := olderAt + 1 + rng.Intn(steps/2)
	for step := 0; step < steps; step++ {
		switch step {
		case olderAt:
			dump(older)
		case backupAt:
			dump(backup)
		}
		switch k := rng.Intn(10); {
		case k == 0: // a deposit
			acct := fmt.Sprintf("acct-%d", rng.Intn(3))
			amount := dec(fmt.Sprint(1 + rng.Intn(9)))
			l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: amount.String(), Reason: acct}))
			deposits[acct] = deposits[acct].Add(amount)
		case k <= 3: // a withdrawal request
			if len(free) == 0 {
				mintFree(3)
			}
			l.caughtUp()
			h, _ := l.world.Holding(free[0])
			n++
			id := fmt.Sprintf("wd-%d", n)
			models[id] = &rv115Model{plan: plans[rng.Intn(len(plans))]}
			r := l.request(id, h.Amount.Div(dec("2")).String(), free[0])
			models[id].trecTgt = r.TrecTgt
			_, err := l.store.Create(ctx, r)
			require.NoError(t, err, "step %d: create %s", step, id)
			ids, free = append(ids, id), free[1:]
		case k <= 5: // an Automation round
			_, err := auto.RunOnce(ctx)
			require.NoError(t, err, "step %d: round", step)
		case k <= 7:
			pending(false)
		default: // time passes: some lapse
			l.advance(time.Duration(1+rng.Intn(4)) * time.Minute)
		}
	}
	if backups[backup] == nil {
		dump(backup)
	}

	// A reader of the history pages with its cursor (Entry.Seq) across the
	// restores, dropping what it has seen by the entry's key.
	read := map[string]bool{}
	var cursor int64
	readHistory := func() {
		for {
			page, err := tokenstd.ListEntries(ctx, db, "txhistory", tokenstd.EntryFilter{AfterSeq: cursor, Limit: 5})
			require.NoError(t, err)
			for _, e := range page {
				read[fmt.Sprintf("%s %d %s %s", e.UpdateID, e.NodeID, e.Kind, e.Instrument)] = true
				cursor = e.Seq
			}
			if len(page) < 5 {
				return
			}
		}
	}

	// The undisturbed run, just before the disaster.
	if len(free) == 0 {
		mintFree(1) // for the creates refused while the gate is closed
	}
	l.caughtUp()
	undisturbed := map[string]*withdrawal.Withdrawal{}
	all, err := l.store.ListByStatus(ctx)
	require.NoError(t, err)
	for _, w := range all {
		undisturbed[w.ID] = w
	}
	l.requireHistoryMatches()
	readHistory()

	// The disaster: the Integration DB is restored from the backup; late
	// transfers commit and offers are accepted while the gate is closed;
	// perhaps the database is restored a second time meanwhile.
	restored := backup
	restore := func(ctx context.Context, file string) {
		l.stopIngester()
		runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, file)
		require.NoError(t, tokenstd.RenumberAfterRestore(ctx, db, "txhistory"))
		restored = file
	}
	waits, restarted := 0, false
	again := ""
	switch rng.Intn(3) {
	case 1:
		again = backup
	case 2:
		again = older
	}
	// TestRV178RestoreLockModel's events (ext), from a source of their own.
	againAt, didAgain := 2, false
	step4Again := false // the second restore as step 4 begins instead
	// hammer: from step 1's closing until step 4 begins (or the run
	// fails), new Stores, which have read no gate, call Create without
	// pause, pg_restore and the second restore included.
	hammer, hammerStop, hammerDone := false, make(chan struct{}), make(chan struct{})
	var hammered atomic.Int64
	hammerStarted := false // once, in the first run
	// againRestoring is held by the second restore's pg_restore, which
	// the hammer waits for: a Create then reads the gate's row and the
	// withdrawal table (RestoreWaiting), and may deadlock with pg_restore
	// (40P01, the Create's error or pg_restore's), not a lock's defect.
	var againRestoring sync.RWMutex
	startHammer := func() {
		req := l.request("wd-hammer", "1", free[0])
		go func() {
			defer close(hammerDone)
			for i := 0; ; i++ {
				select {
				case <-hammerStop:
					return
				default:
				}
				s, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
				if err != nil {
					t.Errorf("seed %d: %v", seed, err)
					return
				}
				r := req
				r.ID, r.UserAccount = fmt.Sprintf("wd-hammer-%d", i), fmt.Sprintf("user-wd-hammer-%d", i)
				againRestoring.RLock()
				_, err = s.Create(ctx, r)
				againRestoring.RUnlock()
				if !errors.Is(err, withdrawal.ErrWithdrawalsDisabled) {
					t.Errorf("seed %d: a Create while the procedure holds its locks: %v (nil: created)", seed, err)
					return
				}
				hammered.Add(1)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	var stopOnce sync.Once
	stopHammer := func() {
		stopOnce.Do(func() {
			if hammer {
				close(hammerStop)
				<-hammerDone
			}
		})
	}
	defer stopHammer()
	op, opAt, handOpen := rv178None, 0, false
	var stale []*withdrawal.Store // Stores that read the gate before step 1
	staleN := 0
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if ext {
		xr := rand.New(rand.NewSource(seed*7919 + 178))
		againAt, op, opAt = 1+xr.Intn(4), xr.Intn(4), 1+xr.Intn(4)
		step4Again = xr.Intn(3) == 0
		if xr.Intn(3) == 0 && op == rv178None {
			op = rv178CancelStep4
		}
		hammer = xr.Intn(2) == 0
		for i := 0; i < 24; i++ {
			s, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
			require.NoError(t, err)
			g, err := s.Gate(ctx)
			require.NoError(t, err)
			require.True(t, g.Open())
			stale = append(stale, s)
		}
	}
	// staleCheck has a Store that read the gate (open) before step 1, and
	// has not read it since if there are enough of them, try a Create and
	// an Automation round: refused, nothing submitted.
	staleCheck := func(where string) {
		s := stale[staleN%len(stale)]
		staleN++
		_, err := s.Create(ctx, l.request(fmt.Sprintf("wd-stale-%d", staleN), "1", free[0]))
		require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled, "seed %d, %s: a Store that read the gate before step 1 created a withdrawal", seed, where)
		a, err := withdrawal.NewAutomation(s, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
		require.NoError(t, err)
		r, err := a.RunOnce(ctx)
		require.NoError(t, err, "seed %d, %s", seed, where)
		// Paused when it found a withdrawal to submit (its first read of
		// the gate takes no lock); the Submitter fails the test if called.
		require.Zero(t, r.Submitted+r.Failed, "seed %d, %s: the Automation of a Store that read the gate before step 1 submitted: %+v", seed, where, r)
	}
	// opEvent is the operator's event at a poll of step 3.
	opEvent := func() {
		switch {
		case op == rv178Cancel && waits == opAt:
			cancel()
		case (op == rv178Enable || op == rv178EnableUndone) && waits == opAt:
			require.NoError(t, l.store.Enable(ctx, "operator: opened by hand during the restore procedure"))
			handOpen = true
			staleCheck(fmt.Sprintf("poll %d, the gate opened by hand", waits))
		case op == rv178EnableUndone && waits == opAt+1 && handOpen:
			require.NoError(t, l.store.Disable(ctx, "operator: closed again"))
			handOpen = false
			staleCheck(fmt.Sprintf("poll %d, the gate closed again by hand", waits))
		}
	}
	// The operator starts ingestion again at the end of Restore, as the
	// runbook says, or once the procedure waits for tSafe.
	inRestore := rng.Intn(2) == 0
	// Sometimes the withdrawal service's Automation keeps running, with its
	// own Store, polling the gate.
	running := rng.Intn(2) == 0
	proc := withdrawal.RestoreProcedure{
		Store: l.store, TTL: ttl, Now: func() time.Time { return l.now }, PollInterval: 5 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			mu.Lock()
			gateClosed = true
			mu.Unlock()
			if running {
				time.Sleep(20 * time.Millisecond) // the running Automation's poll interval, to see the gate closed
			}
			restore(ctx, backup)
			if ext {
				staleCheck("step 2, restored")
			}
			if inRestore {
				restarted = true
				l.startCrediting()
			}
			return nil
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if ext && pr.Step == withdrawal.StepDisable && pr.Done {
				mu.Lock()
				gateClosed = true
				mu.Unlock()
				if hammer && !hammerStarted {
					hammerStarted = true
					startHammer()
				}
			}
			if ext && pr.Done && strings.HasPrefix(pr.Message, "FAILED") {
				stopHammer()
			}
			if ext && pr.Step == withdrawal.StepEnable && !pr.Done {
				stopHammer()
				staleCheck("step 4")
				if step4Again && again != "" && !didAgain {
					didAgain = true
					againRestoring.Lock()
					restore(ctx, again)
					againRestoring.Unlock()
					l.startCrediting()
					handOpen = false // the backup's gate, until the procedure closes it again
					staleCheck("step 4, restored again")
				}
				if op == rv178CancelStep4 {
					cancel()
				}
			}
			if pr.Step != withdrawal.StepWait || pr.Done {
				return
			}
			if !restarted {
				restarted = true
				l.startCrediting()
				return
			}
			waits++
			g, err := l.store.Gate(ctx)
			require.NoError(t, err)
			require.Equal(t, handOpen, g.Open(), "poll %d: the gate is open before tSafe (opened by hand: %t)", waits, handOpen)
			r, err := auto.RunOnce(ctx)
			require.NoError(t, err)
			if handOpen {
				// Its first read of the gate takes no lock: paused only if
				// it found a withdrawal to submit.
				require.Zero(t, r.Submitted+r.Failed, "poll %d: the Automation submitted with the gate opened by hand during the procedure", waits)
			} else {
				require.True(t, r.Paused, "poll %d: the Automation ran with the gate closed", waits)
			}
			// Neither this Store nor one of a service started meanwhile
			// creates a withdrawal.
			service, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
			require.NoError(t, err)
			for _, s := range []*withdrawal.Store{l.store, service} {
				_, err = s.Create(ctx, l.request(fmt.Sprintf("wd-closed-%d", waits), "1", free[0]))
				require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled, "poll %d", waits)
			}
			readHistory()
			if ext {
				staleCheck(fmt.Sprintf("poll %d", waits))
			}
			if waits == againAt && again != "" && !didAgain && !step4Again {
				didAgain = true
				againRestoring.Lock()
				restore(ctx, again)
				againRestoring.Unlock()
				l.startCrediting()
				if ext {
					handOpen = false // the backup's gate, until the procedure closes it again
					staleCheck(fmt.Sprintf("poll %d, restored again", waits))
					opEvent()
				}
				return
			}
			if ext {
				opEvent()
			}
			pending(false)
			if waits%2 == 0 {
				l.advance(ttl / 4)
			}
		},
	}
	stopAuto, autoDone := func() {}, make(chan error, 1)
	if running {
		svc, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Refunder: refunder, Logger: quietLog})
		require.NoError(t, err)
		bg, err := withdrawal.NewAutomation(svc, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog, PollInterval: 2 * time.Millisecond})
		require.NoError(t, err)
		actx, cancel := context.WithCancel(ctx)
		stopAuto = cancel
		go func() { autoDone <- bg.Run(actx) }()
	} else {
		autoDone <- nil
	}
	rep, err := proc.Run(rctx)
	runs := 1
	for ; ext && err != nil && runs < 3; runs++ {
		// A run that failed: cancelled, or refused to open over the
		// operator's change.
		g, gerr := l.store.Gate(ctx)
		require.NoError(t, gerr)
		switch op {
		case rv178Cancel, rv178CancelStep4:
			require.ErrorIs(t, err, context.Canceled, "seed %d", seed)
			require.False(t, g.Enabled, "seed %d: the gate open after a cancelled procedure (restored again: %t)", seed, didAgain)
		default:
			require.ErrorContains(t, err, "step 4", "seed %d", seed)
		}
		require.Equal(t, handOpen, g.Enabled, "seed %d: after the failed run", seed)
		mu.Lock()
		gateClosed = !g.Enabled
		mu.Unlock()
		if !g.Enabled {
			staleCheck("after the failed run")
		}
		handOpen = false
		// Run again, on the database restored, with what the first run
		// found.
		again2 := proc
		again2.Restore, again2.TSafe, again2.Synchronizers = nil, rep.TSafe, rep.Synchronizers
		rep, err = again2.Run(ctx)
	}
	require.NoError(t, err, "seed %d: procedure", seed)
	stopAuto()
	if err := <-autoDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("the running Automation: %v", err)
	}
	mu.Lock()
	gateClosed = false
	mu.Unlock()
	require.True(t, rep.Ingested.After(rep.TSafe))
	// tSafe is at or past the trecTgt of every withdrawal created before
	// the disaster, lost ones included (the ledger commits a transfer only
	// before its trecTgt; one created just before step 1 has tSafe's
	// estimate, Now() + TTL, as its trecTgt), and the gate opened past it.
	for _, id := range ids {
		require.False(t, rep.TSafe.Before(models[id].trecTgt), "tSafe %s is before %s's trecTgt %s", rep.TSafe, id, models[id].trecTgt)
	}
	log, err := l.store.GateLog(ctx)
	require.NoError(t, err)
	opened := log[len(log)-1]
	require.True(t, opened.Enabled)
	require.True(t, opened.IngestedRecordTime.After(rep.TSafe), "the gate opened at %s, tSafe %s", opened.IngestedRecordTime, rep.TSafe)
	pending(true) // the receivers accept the offers left; late transfers lapse
	l.caughtUp()

	// What the ledger did.
	chain := map[string]tokenstd.Entry{}
	set := tokenstd.NewHoldingSet()
	for _, tx := range l.p.Transactions() {
		entries, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(entries)
		for _, e := range entries {
			if e.Kind == tokenstd.KindWithdrawal {
				require.NotContains(t, chain, e.WithdrawalID, "%s executed twice on the ledger", e.WithdrawalID)
				chain[e.WithdrawalID] = e
			}
		}
	}
	got := map[string]*withdrawal.Withdrawal{}
	all, err = l.store.ListByStatus(ctx)
	require.NoError(t, err)
	for _, w := range all {
		got[w.ID] = w
	}
	refunded := refunds(t, db)
	var recovered, completed, absent, ended int
	defer func() {
		t.Logf("seed %d: %d withdrawals, %d in the backup restored last (%s, restored again: %t, at poll %d); "+
			"ingestion restarted in Restore: %t; Automation running: %t; event %d at poll %d; %d runs; %d Creates refused meanwhile; after %d polls %d completed, %d recovered, %d lost and absent, %d failed or expired",
			seed, len(ids), len(backups[restored]), filepath.Base(restored), again != "", againAt, inRestore, running, op, opAt, runs, hammered.Load(), waits, completed, recovered, absent, ended)
	}()
	for _, id := range ids {
		m, w := models[id], got[id]
		backed, inBackup := backups[restored][id]
		require.LessOrEqual(t, m.submitted, 1, "%s submitted %d times", id, m.submitted)
		e, onChain := chain[id]
		require.Equal(t, m.paid, onChain, id)
		if onChain {
			require.NotNil(t, w, "withdrawal %s paid out on the ledger is missing", id)
			require.Equal(t, e.UpdateID, w.UpdateID, id)
			require.True(t, w.Status.PaidOut(), "%s is %s", id, w.Status)
			require.Equal(t, !inBackup, w.Recovered, "%s recovered", id)
			require.NotContains(t, refunded, id, "%s paid and refunded", id)
			if u := undisturbed[id]; u != nil && u.Status.PaidOut() {
				require.Equal(t, u.UpdateID, w.UpdateID, id)
			}
			if w.Recovered {
				recovered++
			} else {
				completed++
			}
			continue
		}
		if !inBackup {
			require.Nil(t, w, "%s lost with nothing on the ledger, yet present: %+v", id, w)
			absent++
			continue
		}
		require.NotNil(t, w, id)
		require.Contains(t, []withdrawal.Status{withdrawal.StatusFailed, withdrawal.StatusExpired}, w.Status, "%s not paid", id)
		require.Contains(t, refunded, id, "%s ended unpaid, not refunded", id)
		ended++
		if backed == withdrawal.StatusFailed || backed == withdrawal.StatusExpired {
			require.Equal(t, backed, w.Status, "%s: %s in the backup", id, backed)
			require.Equal(t, undisturbed[id].Status, w.Status, "%s: undisturbed", id)
		}
	}
	res, err := l.store.Reservations(ctx)
	require.NoError(t, err)
	require.Empty(t, res, "no reservation survives")
	l.requireHistoryMatches()
	readHistory()
	onLedger := map[string]bool{}
	set = tokenstd.NewHoldingSet()
	for _, tx := range l.p.Transactions() {
		entries, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(entries)
		for _, e := range entries {
			onLedger[fmt.Sprintf("%s %d %s %s", e.UpdateID, e.NodeID, e.Kind, e.Instrument)] = true
		}
	}
	require.Equal(t, onLedger, read, "what the reader paging across the restore saw")
	wantCredits := map[string]string{}
	for acct, amt := range deposits {
		wantCredits[acct] = amt.String()
	}
	require.Equal(t, wantCredits, l.credits())

	// Nothing after the procedure is lost: a deposit and a withdrawal.
	l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "3", Reason: "acct-after"}))
	mintFree(1)
	l.caughtUp()
	models["wd-after"] = &rv115Model{plan: planNow}
	r := l.request("wd-after", "5", free[len(free)-1])
	models["wd-after"].trecTgt = r.TrecTgt
	_, err = l.store.Create(ctx, r)
	require.NoError(t, err)
	round, err := auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Submitted: 1}, round, "only the new withdrawal is submitted")
	l.caughtUp()
	require.Equal(t, withdrawal.StatusCompleted, l.get("wd-after").Status)
	require.Equal(t, "3", l.credits()["acct-after"])
	l.requireHistoryMatches()
}
