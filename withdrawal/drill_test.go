package withdrawal_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// pgTool finds a PostgreSQL client program the way pgtest finds the server
// binaries: $PG_BINDIR, `pg_config --bindir`, the newest
// /usr/lib/postgresql/*/bin, then $PATH. It skips the test if there is
// none, or fails it under CI=true.
func pgTool(t *testing.T, name string) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv("PG_BINDIR"); d != "" {
		dirs = append(dirs, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versions, compareVersionDirs)
	dirs = append(dirs, versions...)
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	skipUnlessCI(t, "%s not found (install the PostgreSQL client programs or set PG_BINDIR)", name)
	return ""
}

// compareVersionDirs orders /usr/lib/postgresql/<n>/bin newest first.
func compareVersionDirs(a, b string) int {
	va, vb := 0, 0
	fmt.Sscanf(filepath.Base(filepath.Dir(a)), "%d", &va)
	fmt.Sscanf(filepath.Base(filepath.Dir(b)), "%d", &vb)
	return vb - va
}

func runTool(ctx context.Context, t *testing.T, tool string, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", filepath.Base(tool), strings.Join(args, " "), out)
}

// drillPlan says what the drill's Submitter does with each withdrawal.
type drillPlan string

const (
	planNow     drillPlan = "transfer now"       // a 1-step transfer commits at once
	planLater   drillPlan = "transfer later"     // accepted by the participant, commits later
	planOffer   drillPlan = "offer later"        // a transfer instruction, created later and accepted
	planNever   drillPlan = "never commits"      // lapses
	planNoPreap drillPlan = "no pre-approval"    // the receiver has none: failed
	planOfferOK drillPlan = "offer now, accepts" // a transfer instruction at once, accepted later
)

// TestRestoreDrill rehearses "Restoring the Canton Integration DB from a
// Backup" with real PostgreSQL tools: withdrawals are created, the
// database is backed up with pg_dump, more are created, the ledger
// executes some and lets others lapse, then the database is restored with
// pg_restore and RestoreProcedure runs while ingestion re-ingests.
func TestRestoreDrill(t *testing.T) {
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	admin, err := sqlx.Open("postgres", srv.DSN("postgres"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	_, err = admin.Exec(`CREATE DATABASE drill`)
	require.NoError(t, err)
	dsn := srv.DSN("drill")
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	ctx := l.ctx

	// The exchange's Withdrawal Automation and its Submitter, acting on the
	// fake ledger by plan.
	plan := map[string]drillPlan{}
	submissions := map[string]int{}
	var queued []*withdrawal.Withdrawal // submitted, to commit later
	offers := map[string]string{}       // withdrawal id → open instruction
	transferOf := func(w *withdrawal.Withdrawal) ledgertest.TransferSpec {
		return ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
			InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.1"}
	}
	execute := func(w *withdrawal.Withdrawal) {
		switch plan[w.ID] {
		case planOffer, planOfferOK:
			tx, icid := l.world.Offer(transferOf(w))
			l.append(tx)
			offers[w.ID] = icid
		default:
			l.append(l.world.Transfer(transferOf(w)))
		}
	}
	submitter := withdrawal.SubmitFunc(func(ctx context.Context, w *withdrawal.Withdrawal) error {
		submissions[w.ID]++
		switch plan[w.ID] {
		case planNow, planOfferOK:
			execute(w)
		case planLater, planOffer:
			queued = append(queued, w)
		case planNoPreap:
			return withdrawal.ErrNoPreapproval
		}
		return nil
	})
	auto, err := withdrawal.NewAutomation(l.store, withdrawal.AutomationConfig{Submitter: submitter, Logger: quietLog})
	require.NoError(t, err)

	holdings := l.mintAndCatchUp("100", "100", "100", "100", "100", "100", "100", "100", "100", "100", "100")
	create := func(id string, p drillPlan, amount string, holding string) {
		t.Helper()
		plan[id] = p
		_, err := l.store.Create(ctx, l.request(id, amount, holding))
		require.NoError(t, err)
	}
	var trecTgts []time.Time
	track := func(ids ...string) {
		for _, id := range ids {
			trecTgts = append(trecTgts, l.get(id).TrecTgt)
		}
	}

	// Before the backup.
	create("wd-a1", planNow, "40", holdings[0])
	create("wd-a2", planLater, "41", holdings[1])
	create("wd-a3", planNever, "42", holdings[2])
	create("wd-a4", planOffer, "43", holdings[3])
	create("wd-a5", planNoPreap, "44", holdings[4])
	track("wd-a1", "wd-a2", "wd-a3", "wd-a4", "wd-a5")
	round, err := auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Submitted: 4, Failed: 1}, round)
	l.caughtUp()
	require.Equal(t, withdrawal.StatusCompleted, l.get("wd-a1").Status)

	backup := filepath.Join(t.TempDir(), "integration.dump")
	runTool(ctx, t, pgDump, "--format=custom", "--file="+backup, "--dbname="+dsn)
	t.Logf("backed up at ingested record time %s", l.now.Format(time.RFC3339Nano))

	// After the backup: more withdrawals, the ledger executes some, others
	// lapse.
	l.advance(time.Minute)
	create("wd-b1", planNow, "50", holdings[5])
	create("wd-b2", planNow, "51", holdings[6])
	create("wd-b3", planOfferOK, "52", holdings[7])
	create("wd-b4", planNever, "53", holdings[8])
	track("wd-b1", "wd-b2", "wd-b3", "wd-b4")
	round, err = auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Submitted: 4}, round)
	for _, w := range queued {
		execute(w)
	}
	queued = nil
	l.append(l.world.Accept(offers["wd-a4"]))
	l.append(l.world.Accept(offers["wd-b3"]))
	var latest time.Time
	for _, tt := range trecTgts {
		if tt.After(latest) {
			latest = tt
		}
	}
	l.advance(latest.Sub(l.now) + time.Second) // wd-a3 and wd-b4 lapse
	l.caughtUp()
	before := map[string]withdrawal.Status{}
	all, err := l.store.ListByStatus(ctx)
	require.NoError(t, err)
	for _, w := range all {
		before[w.ID] = w.Status
	}
	require.Equal(t, map[string]withdrawal.Status{
		"wd-a1": withdrawal.StatusCompleted, "wd-a2": withdrawal.StatusCompleted, "wd-a3": withdrawal.StatusExpired,
		"wd-a4": withdrawal.StatusCompleted, "wd-a5": withdrawal.StatusFailed,
		"wd-b1": withdrawal.StatusCompleted, "wd-b2": withdrawal.StatusCompleted, "wd-b3": withdrawal.StatusCompleted,
		"wd-b4": withdrawal.StatusExpired,
	}, before)
	// What the ledger did, to check the restored database against.
	type onChain struct {
		updateID   string
		recordTime time.Time
	}
	chain := map[string]onChain{}
	set := tokenstd.NewHoldingSet()
	for _, tx := range l.p.Transactions() {
		entries, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(entries)
		for _, e := range entries {
			if e.Kind == tokenstd.KindWithdrawal {
				require.NotContains(t, chain, e.WithdrawalID, "executed twice on the ledger")
				chain[e.WithdrawalID] = onChain{e.UpdateID, e.RecordTime}
			}
		}
	}

	// Disaster: the Integration DB is restored from the backup while the
	// procedure keeps withdrawals disabled until tSafe.
	var waits, paused int
	var restarted bool
	var restoredStatus map[string]withdrawal.Status
	proc := withdrawal.RestoreProcedure{
		Store:        l.store,
		TTL:          ttl,
		Now:          func() time.Time { return l.now }, // the ledger's clock stands in for the wall clock
		PollInterval: 5 * time.Millisecond,
		Logger:       quietLog,
		Restore: func(ctx context.Context) error {
			l.stopIngester()
			runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, backup)
			ws, err := l.store.ListByStatus(ctx)
			require.NoError(t, err)
			restoredStatus = map[string]withdrawal.Status{}
			for _, w := range ws {
				restoredStatus[w.ID] = w.Status
			}
			// Ingestion restarts once the procedure waits for tSafe: started
			// here, it could reconcile withdrawals before the procedure has
			// counted those in flight in the backup.
			return nil
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step == withdrawal.StepWait && !restarted {
				restarted = true
				l.startIngester()
			}
			if pr.Step != withdrawal.StepWait || pr.Done || pr.Waited == 0 {
				return
			}
			waits++
			require.False(t, pr.Ingested.After(pr.TSafe))
			g, err := l.store.Gate(ctx)
			require.NoError(t, err)
			require.False(t, g.Enabled)
			_, err = l.store.Create(ctx, l.request("wd-c1", "10", holdings[10]))
			require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled)
			if r, err := auto.RunOnce(ctx); err == nil && r.Paused {
				paused++
			}
			if waits%3 == 0 {
				l.advance(ttl / 4) // time passes on the ledger
			}
		},
	}
	rep, err := proc.Run(ctx)
	require.NoError(t, err)
	t.Logf("restore procedure: tSafe %s, opened at ingested record time %s after %s and %d polls",
		rep.TSafe.Format(time.RFC3339Nano), rep.Ingested.Format(time.RFC3339Nano), rep.Waited, waits)

	// The backup had the first five, as they were then.
	require.Equal(t, map[string]withdrawal.Status{
		"wd-a1": withdrawal.StatusCompleted, "wd-a2": withdrawal.StatusSubmitted, "wd-a3": withdrawal.StatusSubmitted,
		"wd-a4": withdrawal.StatusSubmitted, "wd-a5": withdrawal.StatusFailed,
	}, restoredStatus)
	require.Equal(t, 3, rep.InFlight)

	// The gate opened only after tSafe, and tSafe is past every trecTgt.
	for _, tt := range trecTgts {
		require.True(t, rep.TSafe.After(tt), "tSafe %s is not after trecTgt %s", rep.TSafe, tt)
	}
	log, err := l.store.GateLog(ctx)
	require.NoError(t, err)
	opened := log[len(log)-1]
	require.True(t, opened.Enabled)
	require.Equal(t, rep.TSafe, opened.TSafe)
	require.True(t, opened.IngestedRecordTime.After(opened.TSafe), "gate opened at %s, before tSafe %s", opened.IngestedRecordTime, opened.TSafe)
	for _, c := range log[:len(log)-1] {
		if c.ChangedAt.After(rep.DisabledAt) || c.ChangedAt.Equal(rep.DisabledAt) {
			require.False(t, c.Enabled, "the gate opened during the procedure: %+v", c)
		}
	}
	require.Positive(t, waits)
	require.Positive(t, paused)
	l.caughtUp()

	// Every withdrawal executed on the ledger exists, with its transaction:
	// restored requests completed, lost ones recovered.
	got := map[string]*withdrawal.Withdrawal{}
	all, err = l.store.ListByStatus(ctx)
	require.NoError(t, err)
	for _, w := range all {
		got[w.ID] = w
	}
	require.Len(t, chain, 6)
	for id, c := range chain {
		w, ok := got[id]
		require.True(t, ok, "withdrawal %s executed on the ledger is missing", id)
		require.Equal(t, c.updateID, w.UpdateID, id)
		require.Equal(t, c.recordTime, w.RecordTime, id)
		require.True(t, w.Status.PaidOut(), id)
		requireDec(t, "0.1", w.Fee, id)
		require.Equal(t, external, w.Receiver, id)
		require.Equal(t, instrument(l.world.Instrument()), w.Instrument, id)
		require.True(t, w.Transferred.Equal(w.Amount), id)
	}
	for _, id := range []string{"wd-a1", "wd-a2", "wd-a4"} {
		require.Equal(t, withdrawal.StatusCompleted, got[id].Status, id)
		require.False(t, got[id].Recovered, id)
	}
	for id, amount := range map[string]string{"wd-b1": "50", "wd-b2": "51", "wd-b3": "52"} {
		w := got[id]
		require.Equal(t, withdrawal.StatusRecovered, w.Status, id)
		require.True(t, w.Recovered, id)
		requireDec(t, amount, w.Amount, id)
		require.Empty(t, w.UserAccount, id)
	}
	require.NotEmpty(t, got["wd-b3"].InstructionCID)
	// The lapsed one the backup knew is expired, released and refunded
	// once; the lost lapsed one is gone with nothing on the ledger.
	require.Equal(t, withdrawal.StatusExpired, got["wd-a3"].Status)
	require.Equal(t, withdrawal.StatusFailed, got["wd-a5"].Status)
	require.NotContains(t, got, "wd-b4")
	require.Len(t, got, 8)
	require.Equal(t, map[string]string{"wd-a3": "43", "wd-a5": "45"}, refunds(t, db))
	res, err := l.store.Reservations(ctx)
	require.NoError(t, err)
	require.Empty(t, res, "no reservation survives")

	// Nothing is executed twice: the automation finds nothing to submit,
	// every submission happened once, the ledger has one transfer each.
	round, err = auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{}, round)
	for id, n := range submissions {
		require.Equal(t, 1, n, id)
	}
	var dup []string
	require.NoError(t, db.Select(&dup, `SELECT withdrawal_id FROM txhistory.token_history WHERE kind = 'withdrawal'
		GROUP BY withdrawal_id HAVING count(*) > 1`))
	require.Empty(t, dup)

	// Withdrawals work again: wd-b4's holding was never spent and is free.
	create("wd-c1", planNow, "10", holdings[8])
	round, err = auto.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, withdrawal.Round{Submitted: 1}, round)
	l.caughtUp()
	require.Equal(t, withdrawal.StatusCompleted, l.get("wd-c1").Status)
	l.requireBalancesMatch()
}
