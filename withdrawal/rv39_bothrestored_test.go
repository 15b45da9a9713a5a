package withdrawal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The validator node and the Integration DB are both restored in the same
// incident, from backups of different ages, as docs/OPERATIONS.md ("both
// restored") says to handle it: the Integration DB restore procedure
// around both restores, its gate closed throughout; the validator node
// runbook run against the restored Integration DB before ingestion starts
// again (needed for a DB backup newer than the node's, whose checkpoint
// names offsets the restored node gave away; harmless for an older one);
// or, if ingestion was started first, when it stops with
// ErrParticipantRestored; the gate opened past tSafe. Withdrawals: wd-1
// paid before both backups, wd-2 paid between them, wd-3 in the DB backup
// and lapsing during the outage, wd-4 requested after both backups and
// paid (lost with the DB: the RecoveryHook re-creates it), wd-5 requested
// after both backups and in flight on Canton during the restore, its
// transfer committing after it; a customer's request while the gate is up
// is refused.
func TestNodeAndIntegrationDBBothRestored(t *testing.T) {
	for _, tc := range []struct {
		name         string
		dbIsNewer    bool // the DB backup was taken after the node backup
		runbookFirst bool // the node runbook runs before ingestion starts again
	}{
		{name: "db backup newer than the node backup", dbIsNewer: true, runbookFirst: true},
		{name: "db backup older than the node backup", dbIsNewer: false, runbookFirst: true},
		{name: "db backup newer, ingestion started first", dbIsNewer: true, runbookFirst: false},
		{name: "db backup older, ingestion started first", dbIsNewer: false, runbookFirst: false},
	} {
		t.Run(tc.name, func(t *testing.T) { bothRestored(t, tc.dbIsNewer, tc.runbookFirst) })
	}
}

func bothRestored(t *testing.T, dbIsNewer, runbookFirst bool) {
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	db := pgtest.NewDB(t)
	var name string
	require.NoError(t, db.Get(&name, `SELECT current_database()`))
	dsn := pgtest.SharedServer(t).DSN(name)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	ctx := l.ctx
	admin, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: l.p.Addr(), Insecure: true},
		Admin:     ledger.Endpoint{Target: l.p.AdminAddr(), Insecure: true},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })

	holdings := l.mintAndCatchUp("100", "100", "100", "100", "100", "100")
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
	pay("wd-1", "11", holdings[0])
	l.submitted("wd-3", "13", holdings[2]) // never commits
	if dbIsNewer {
		nodeBackup = l.p.Backup()
		pay("wd-2", "12", holdings[1])
		backUpDB()
	} else {
		backUpDB()
		pay("wd-2", "12", holdings[1])
		nodeBackup = l.p.Backup()
	}
	pay("wd-4", "14", holdings[3])
	wd5 := l.submitted("wd-5", "15", holdings[4])
	l.advance(time.Minute)
	l.caughtUp()

	// The disaster: ingestion stops, the node is restored.
	l.stopIngester()
	l.p.Restore(nodeBackup)

	runbook := func() {
		t.Helper()
		rb := &recovery.Runbook{DB: l.db, Participant: admin, Apply: true, Options: recovery.Options{
			Parties: []string{treasury}, PollInterval: 5 * time.Millisecond, Timeout: 30 * time.Second, Logger: quietLog}}
		rw, err := rb.Run(ctx)
		require.NoError(t, err)
		require.Equal(t, dbIsNewer, rw.Restored(), "the runbook finds the offsets of the restored Integration DB changed")
	}
	restarted := false
	var ingErr error
	polls := 0
	proc := withdrawal.RestoreProcedure{
		Store:        l.store,
		TTL:          ttl,
		Now:          func() time.Time { return l.now },
		PollInterval: 5 * time.Millisecond,
		Logger:       quietLog,
		Restore: func(ctx context.Context) error {
			runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, dbBackup)
			return nil
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait {
				return
			}
			if !restarted {
				restarted = true
				if runbookFirst {
					runbook()
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
			_, err = l.store.Create(ctx, l.request("wd-new", "10", holdings[5]))
			require.ErrorIs(t, err, withdrawal.ErrWithdrawalsDisabled, "a customer's request while the gate is up")
			select {
			case err := <-l.ingDone:
				// Ingestion stopped: the operator runs the validator node
				// runbook against the restored Integration DB.
				l.stopIng = nil
				ingErr = err
				require.ErrorIs(t, err, ingest.ErrParticipantRestored)
				runbook()
				l.startIngester()
			default:
			}
			if polls == 5 {
				l.append(transferOf(wd5)) // wd-5's transfer commits after the restore
			}
			if polls > 5 && polls%3 == 0 {
				l.advance(ttl / 4)
			}
		},
	}
	rep, err := proc.Run(ctx)
	require.NoError(t, err)
	// Started before the runbook, ingestion stops on the DB backup newer
	// than the node's (here it can tell) and goes on with the older one.
	require.Equal(t, dbIsNewer && !runbookFirst, ingErr != nil, "ingestion stopped with %v", ingErr)
	require.True(t, rep.Ingested.After(rep.TSafe))
	l.caughtUp()

	want := map[string]withdrawal.Status{
		"wd-1": withdrawal.StatusCompleted, "wd-2": withdrawal.StatusCompleted, "wd-3": withdrawal.StatusExpired,
		"wd-4": withdrawal.StatusRecovered, "wd-5": withdrawal.StatusRecovered,
	}
	if !dbIsNewer {
		want["wd-2"] = withdrawal.StatusRecovered // requested after the DB backup
	}
	got := map[string]withdrawal.Status{}
	all, err := l.store.ListByStatus(ctx)
	require.NoError(t, err)
	for _, w := range all {
		got[w.ID] = w.Status
	}
	require.Equal(t, want, got)
	require.Equal(t, map[string]string{"wd-3": "14"}, refunds(t, db), "the lapsed one refunded once, no other")
	// The history is the ledger's: no entry missing, none twice.
	var onLedger []string
	set := tokenstd.NewHoldingSet()
	for _, tx := range l.p.Transactions() {
		entries, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(entries)
		for _, e := range entries {
			onLedger = append(onLedger, fmt.Sprintf("%s %s %s", e.UpdateID, e.Kind, e.WithdrawalID))
		}
	}
	var ingested []string
	require.NoError(t, db.Select(&ingested, `SELECT update_id || ' ' || kind || ' ' || withdrawal_id FROM txhistory.token_history ORDER BY id`))
	require.ElementsMatch(t, onLedger, ingested)
	require.Len(t, onLedger, 6+4, "six mints and four transfers")
	l.requireBalancesMatch()
	if errors.Is(ingErr, ingest.ErrParticipantRestored) {
		t.Logf("ingestion stopped after the restores: %v", ingErr)
	}
}

// docs/OPERATIONS.md and the recovery package documentation tell the
// operator what to run when the validator node and the Integration DB are
// both restored, as TestNodeAndIntegrationDBBothRestored does it.
func TestBothRestoredIsDocumented(t *testing.T) {
	for _, file := range []string{"../docs/OPERATIONS.md", "../recovery/doc.go"} {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		doc := strings.Join(strings.Fields(strings.NewReplacer("//", " ", "`", "").Replace(string(b))), " ")
		require.True(t, strings.Contains(doc, "both restored"), "%s says nothing of the validator node and the Integration DB both restored", file)
		_, both, _ := strings.Cut(doc, "both restored")
		for _, s := range []string{"RestoreProcedure", "ErrParticipantRestored", "newer than the node backup", "older than the node backup"} {
			require.True(t, strings.Contains(both, s), "%s, on both restored, does not say %q", file, s)
		}
	}
}
