package withdrawal_test

import (
	"context"
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
	"github.com/stretchr/testify/require"
)

// The validator node and the Integration DB both restored, the Integration
// DB from a backup taken before the treasury's first transaction (a new
// deployment: its checkpoint moved by offset checkpoints alone) and newer
// than the node backup. Ingestion stops with ErrParticipantRestored, whose
// answer is the node runbook; the runbook has no tRecovery
// (ErrNothingIngested). Its error must say what to do next, and doing it
// must ingest the treasury's history whole and let the procedure open the
// gate.
func TestBothRestoredNothingIngested(t *testing.T) {
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

	// Others' transactions, which the treasury does not see, move the
	// checkpoint by offset checkpoints.
	other := func() { l.append(l.world.Tx(l.world.MintOp(external, "5"))) }
	other()
	l.startIngester()
	l.caughtUp()
	nodeBackup := l.p.Backup()
	other()
	other()
	l.caughtUp()
	dbBackup := filepath.Join(t.TempDir(), "integration.dump")
	runTool(ctx, t, pgDump, "--format=custom", "--file="+dbBackup, "--dbname="+dsn)
	l.mint("100", "50")
	l.caughtUp()

	// The incident: both restored, the node still recovering from the
	// synchronizer when the runbook runs.
	l.stopIngester()
	l.p.Restore(nodeBackup, ledgertest.WithCatchUp(true))
	var runbookErr error
	restarted, caughtUp := false, false
	proc := withdrawal.RestoreProcedure{Store: l.store, TTL: ttl, Now: func() time.Time { return l.now },
		PollInterval: 5 * time.Millisecond, Logger: quietLog,
		Restore: func(ctx context.Context) error {
			runTool(ctx, t, pgRestore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--dbname="+dsn, dbBackup)
			return nil
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			if pr.Step != withdrawal.StepWait || pr.Done {
				return
			}
			if !restarted {
				// Started without the runbook, ingestion stops and asks
				// for it.
				restarted = true
				l.startIngester()
				err := <-l.ingDone
				l.stopIng = nil
				require.ErrorIs(t, err, ingest.ErrParticipantRestored)
				rb := &recovery.Runbook{DB: l.db, Participant: admin, Apply: true, Options: recovery.Options{
					Parties: []string{treasury}, PollInterval: 5 * time.Millisecond, Timeout: 5 * time.Second, Logger: quietLog}}
				_, runbookErr = rb.Run(ctx)
				require.ErrorIs(t, runbookErr, recovery.ErrNothingIngested)
				// What the error says to do, as txhistory_ingest.
				reset := `UPDATE "txhistory"."checkpoint" SET ledger_offset = 0; DELETE FROM "txhistory"."synchronizer_time"`
				require.Contains(t, runbookErr.Error(), reset, "the runbook's error names what to do next")
				_, err = l.db.ExecContext(ctx, reset)
				require.NoError(t, err)
				l.startIngester()
				return
			}
			if !caughtUp {
				caughtUp = true
				l.p.CatchUp(-1)
			}
			select {
			case err := <-l.ingDone:
				l.stopIng = nil
				t.Fatalf("ingestion stopped: %v", err)
			default:
			}
			l.advance(ttl / 4)
		},
	}
	_, err = proc.Run(ctx)
	require.NoError(t, err)
	l.caughtUp()
	t.Logf("runbook: %v", runbookErr)

	var onLedger, ingested []string
	set := tokenstd.NewHoldingSet()
	for _, tx := range l.p.Transactions() {
		entries, err := tokenstd.Classify(tx, treasury, set)
		require.NoError(t, err)
		set.Apply(entries)
		for _, e := range entries {
			onLedger = append(onLedger, e.UpdateID+" "+string(e.Kind))
		}
	}
	require.NoError(t, db.Select(&ingested, `SELECT update_id || ' ' || kind FROM txhistory.token_history ORDER BY id`))
	require.NotEmpty(t, onLedger)
	require.ElementsMatch(t, onLedger, ingested)
	l.requireBalancesMatch()
}
