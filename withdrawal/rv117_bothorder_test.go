package withdrawal_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// The validator node and the Integration DB both restored, the two
// restores noticed one after the other with ingestion running in between,
// as docs/OPERATIONS.md ("The validator node and the Integration DB both
// restored") says to handle them: node first (ingestion runs on the
// restored node until the operator notices and runs the node runbook, then
// the Integration DB is restored: stop, close the gate, restore, node
// runbook against the restored Integration DB, start), or the Integration
// DB first (the procedure waits with ingestion running when the node is
// restored under it: stop, node runbook, start). Deposits share record
// times with others on both sides of each backup; withdrawals are paid,
// in flight and lapsing around both. Nothing is credited twice or lost
// against the ledger, no withdrawal is submitted twice, the gate opens
// past tSafe.
func TestBothRestoredNoticedInTurn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dbIsNewer bool
		nodeFirst bool
	}{
		{"node first, db backup newer", true, true},
		{"node first, db backup older", false, true},
		{"db first, db backup newer", true, false},
		{"db first, db backup older", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) { bothRestoredInTurn(t, tc.dbIsNewer, tc.nodeFirst) })
	}
}

func bothRestoredInTurn(t *testing.T, dbIsNewer, nodeFirst bool) {
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	db := pgtest.NewDB(t)
	var name string
	require.NoError(t, db.Get(&name, `SELECT current_database()`))
	dsn := pgtest.SharedServer(t).DSN(name)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	ctx := l.ctx
	// The exchange's balances live in the Integration DB, credited in the
	// batch's transaction, and are restored with it.
	_, err := db.ExecContext(ctx, `CREATE TABLE public.credit (update_id text NOT NULL, account text NOT NULL, amount numeric NOT NULL)`)
	require.NoError(t, err)
	l.credit = tokenstd.CreditFunc(func(ctx context.Context, tx *sqlx.Tx, e *tokenstd.Entry) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO public.credit VALUES ($1, $2, $3)`, e.UpdateID, e.Account, e.Amount.String())
		return err
	})
	admin, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: l.p.Addr(), Insecure: true},
		Admin:     ledger.Endpoint{Target: l.p.AdminAddr(), Insecure: true},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })

	holdings := l.mintAndCatchUp("100", "100", "100", "100", "100", "100")
	l.append(l.world.Tx(l.world.MintOp(external, "1000")))
	l.caughtUp()
	deposits := 0
	// depositsAt puts n deposits on the ledger, all at record time at.
	depositsAt := func(at time.Time, n int) {
		t.Helper()
		var txs []*ledger.Transaction
		for range n {
			deposits++
			tx := l.world.Transfer(ledgertest.TransferSpec{Sender: external, Receiver: treasury, Amount: "1",
				Reason: fmt.Sprintf("acct-%d", deposits)})
			tx.RecordTime = at
			txs = append(txs, tx)
		}
		l.append(txs...)
	}
	transferOf := func(w *withdrawal.Withdrawal) *ledger.Transaction {
		return l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
			InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.1"})
	}
	pay := func(id, amount, holding string) {
		t.Helper()
		l.append(transferOf(l.submitted(id, amount, holding)))
		l.caughtUp()
	}

	var nodeBackup ledgertest.Snapshot
	dbBackup := filepath.Join(t.TempDir(), "integration.dump")
	backUpDB := func() { runTool(ctx, t, pgDump, "--format=custom", "--file="+dbBackup, "--dbname="+dsn) }
	backUp := func(first bool) {
		if first == dbIsNewer {
			nodeBackup = l.p.Backup()
		} else {
			backUpDB()
		}
	}
	pay("wd-1", "11", holdings[0])
	l.submitted("wd-3", "13", holdings[2]) // never commits
	// Each backup falls among transactions sharing one record time.
	t1 := l.now.Add(time.Second)
	depositsAt(t1, 3)
	l.caughtUp()
	backUp(true)
	depositsAt(t1, 3)
	pay("wd-2", "12", holdings[1])
	t2 := l.now.Add(time.Second)
	depositsAt(t2, 3)
	l.caughtUp()
	backUp(false)
	depositsAt(t2, 3)
	pay("wd-4", "14", holdings[3])
	wd5 := l.submitted("wd-5", "15", holdings[4])
	depositsAt(l.now.Add(time.Second), 2)
	l.advance(time.Minute)
	l.caughtUp()

	runbook := func() {
		t.Helper()
		rb := &recovery.Runbook{DB: l.db, Participant: admin, Apply: true, Options: recovery.Options{
			Parties: []string{treasury}, PollInterval: 5 * time.Millisecond, Timeout: 30 * time.Second, Logger: quietLog}}
		_, err := rb.Run(ctx)
		require.NoError(t, err, "the validator node runbook")
	}
	var ingErrs []error
	// nodeRestored restores the node under a running ingestion, lets it
	// run on the restored node (more deposits arrive meanwhile), then
	// does what the operator does on noticing: stop ingestion, run the
	// node runbook, start ingestion.
	nodeRestored := func() {
		t.Helper()
		l.p.Restore(nodeBackup)
		depositsAt(l.now.Add(time.Second), 2)
		select {
		case <-time.After(300 * time.Millisecond):
			l.stopIngester()
		case err := <-l.ingDone:
			l.stopIng = nil
			require.ErrorIs(t, err, ingest.ErrParticipantRestored)
			ingErrs = append(ingErrs, err)
		}
		runbook()
		l.startIngester()
	}
	if nodeFirst {
		nodeRestored()
		l.caughtUp()
	}

	restarted := false
	polls := 0
	proc := withdrawal.RestoreProcedure{
		Store:        l.store,
		TTL:          ttl,
		Now:          func() time.Time { return l.now },
		PollInterval: 5 * time.Millisecond,
		Logger:       quietLog,
		Restore: func(ctx context.Context) error {
			l.stopIngester()
			runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, dbBackup)
			return nil
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait {
				return
			}
			if !restarted {
				restarted = true
				if nodeFirst {
					runbook() // both restored: against the restored Integration DB
				}
				l.startIngester()
				return
			}
			if pr.Done || pr.Waited == 0 {
				return
			}
			polls++
			g, err := l.store.Gate(ctx)
			require.NoError(t, err)
			require.False(t, g.Open(), "the gate is closed while waiting")
			select {
			case err := <-l.ingDone:
				l.stopIng = nil
				ingErrs = append(ingErrs, err)
				require.ErrorIs(t, err, ingest.ErrParticipantRestored)
				runbook()
				l.startIngester()
			default:
			}
			if polls == 3 && !nodeFirst {
				nodeRestored()
			}
			if polls == 5 {
				l.append(transferOf(wd5)) // wd-5's transfer commits after the restores
			}
			if polls > 5 && polls%3 == 0 {
				l.advance(ttl / 4)
			}
		},
	}
	rep, err := proc.Run(ctx)
	require.NoError(t, err)
	require.True(t, rep.Ingested.After(rep.TSafe))
	l.caughtUp()
	for _, err := range ingErrs {
		t.Logf("ingestion stopped: %v", err)
	}

	want := map[string]withdrawal.Status{
		"wd-1": withdrawal.StatusCompleted, "wd-2": withdrawal.StatusCompleted, "wd-3": withdrawal.StatusExpired,
		"wd-4": withdrawal.StatusRecovered, "wd-5": withdrawal.StatusRecovered,
	}
	if !dbIsNewer {
		want["wd-2"] = withdrawal.StatusRecovered
	}
	got := map[string]withdrawal.Status{}
	all, err := l.store.ListByStatus(ctx)
	require.NoError(t, err)
	for _, w := range all {
		got[w.ID] = w.Status
	}
	require.Equal(t, want, got)
	require.Equal(t, map[string]string{"wd-3": "14"}, refunds(t, db), "the lapsed one refunded once, no other")

	var onLedger, deposited []string
	set := tokenstd.NewHoldingSet()
	for _, tx := range l.p.Transactions() {
		entries, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(entries)
		for _, e := range entries {
			onLedger = append(onLedger, fmt.Sprintf("%s %s %s", e.UpdateID, e.Kind, e.WithdrawalID))
			if e.Kind == tokenstd.KindDeposit {
				deposited = append(deposited, e.UpdateID+" "+e.Account)
			}
		}
	}
	var ingested, credited []string
	require.NoError(t, db.Select(&ingested, `SELECT update_id || ' ' || kind || ' ' || withdrawal_id FROM txhistory.token_history ORDER BY id`))
	require.ElementsMatch(t, onLedger, ingested, "the history is the ledger's: none missing, none twice")
	require.NoError(t, db.Select(&credited, `SELECT update_id || ' ' || account FROM public.credit`))
	require.Len(t, deposited, deposits)
	require.ElementsMatch(t, deposited, credited, "every deposit credited once")
	l.requireBalancesMatch()
}
