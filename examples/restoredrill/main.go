// Command restoredrill rehearses the validator node restore runbook end to
// end, with nothing to set up: an in-process fake participant, and a local
// PostgreSQL started from the installed server binaries (or -dsn).
//
//	go run ./examples/restoredrill
//	go run ./examples/restoredrill -admin-api 3.4 -n 3000
//	go run ./examples/restoredrill -dsn postgres://user:pass@localhost/db
//
// The drill:
//
//  1. scripts a history for the treasury party, backs the participant up
//     at 40% of it, and ingests up to 90%, stopping half-way through five
//     transactions that share one record time (as participant-local history
//     changes produce);
//  2. restores the participant from the backup: it recovers the later
//     transactions from the synchronizer under new offsets, slowly, in the
//     background;
//  3. restarts ingestion without the runbook, which refuses with
//     ingest.ErrParticipantRestored and leaves the database unchanged;
//  4. runs the runbook (package recovery): waits for the participant to
//     catch up, computes offRecovery, rewrites the checkpoint; offRecovery
//     must be the restored node's offset of the last transaction before
//     tRecovery;
//  5. restarts ingestion, while new transactions keep arriving; dedup
//     must drop exactly the two transactions at tRecovery ingested before;
//  6. checks the database against an undisturbed run of the same history:
//     same update ids, same effects, no duplicate, no gap.
//
// It exits 0 when the check passes. With -dsn it works in two new schemas
// and drops them at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/cantonx/txhistory/examples/internal/exampledb"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
)

const treasury = "treasury::1220d1ce"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "restoredrill: FAIL:", ingest.Redact(err.Error()))
		os.Exit(1)
	}
	fmt.Println("PASS")
}

func run() error {
	var (
		dsn      = flag.String("dsn", "", "PostgreSQL connection string; empty starts a local throwaway server")
		n        = flag.Int("n", 1000, "transactions in the scripted history (at least 100)")
		adminAPI = flag.String("admin-api", "3.5", "the fake participant's admin API behaviour: 3.4 or 3.5")
		verbose  = flag.Bool("v", false, "log what ingestion and the runbook do")
	)
	flag.Parse()
	behaviour := map[string]ledgertest.AdminBehaviour{"3.4": ledgertest.AdminV34, "3.5": ledgertest.AdminV35}[*adminAPI]
	if behaviour == 0 {
		return fmt.Errorf("-admin-api %q: want 3.4 or 3.5", *adminAPI)
	}
	if *n < 100 {
		return fmt.Errorf("-n %d: want at least 100", *n)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The Integration DB: two schemas, the drill's and an undisturbed reference.
	db, _, closeDB, err := exampledb.Open(ctx, *dsn, "txhistory-restoredrill", os.Stdout)
	if err != nil {
		return err
	}
	defer closeDB()
	suffix := fmt.Sprintf("%d_%04d", time.Now().Unix(), rand.IntN(10000))
	drill, ref := "restoredrill_"+suffix, "restoredrill_ref_"+suffix
	for _, s := range []string{drill, ref} {
		if err := schema.Migrate(ctx, db, schema.WithSchema(s)); err != nil {
			return err
		}
		defer db.Exec(`DROP SCHEMA IF EXISTS ` + s + ` CASCADE`)
		if _, err := db.ExecContext(ctx, `CREATE TABLE `+schema.Qualify(s, "drill_effects")+` (update_id text NOT NULL, ledger_offset bigint NOT NULL, record_time timestamptz NOT NULL, command_id text NOT NULL, contracts text NOT NULL)`); err != nil {
			return err
		}
	}

	// The participants: the exchange's validator node and an undisturbed twin.
	p, err := ledgertest.New(ledgertest.WithSeparateAdmin(), ledgertest.WithAdminBehaviour(behaviour))
	if err != nil {
		return err
	}
	defer p.Close()
	twin, err := ledgertest.New()
	if err != nil {
		return err
	}
	defer twin.Close()
	client, err := dial(p)
	if err != nil {
		return err
	}
	defer client.Close()
	twinClient, err := dial(twin)
	if err != nil {
		return err
	}
	defer twinClient.Close()

	h := newHistory(*n)
	backupAt, stopAt := h.backupAt, h.stopAt
	fmt.Printf("fake participant: Ledger API %s, admin API %s (Canton %s behaviour)\n", p.Addr(), p.AdminAddr(), *adminAPI)
	fmt.Printf("history: %d transactions; backup after #%d; ingestion stops after #%d, the 2nd of #%d-#%d which share one record time\n\n",
		*n, backupAt, stopAt, stopAt-1, stopAt+3)

	// 1. Normal operation.
	fmt.Println("[1] Normal operation: back up the node, keep ingesting.")
	if err := h.play(p, 0, backupAt); err != nil {
		return err
	}
	backup := p.Backup()
	backupTime := h.recordTime(backupAt).Add(time.Microsecond)
	fmt.Printf("    validator node backed up at ledger end %d (record time %s)\n", backup.LedgerEnd(), backupTime.Format(time.RFC3339Nano))
	if err := h.play(p, backupAt, *n); err != nil {
		return err
	}
	stoppedAt := offsetOf(p, h.updateID(stopAt))
	st, err := ingestTo(ctx, db, client, drill, logger, stoppedAt)
	if err != nil {
		return err
	}
	fmt.Printf("    ingested %d transactions up to offset %d (%s); Tx History Ingestion stopped\n\n", st.Transactions, stoppedAt, h.updateID(stopAt))

	// 2. The disaster.
	fmt.Println("[2] Disaster: the validator node must be restored from the backup.")
	rep, err := recovery.Packages(ctx, db, client, backupTime, recovery.PackageOptions{Schema: drill, Parties: []string{treasury}})
	if err != nil {
		return err
	}
	fmt.Printf("    before restoring it, runbook step 4: the %d transactions ingested since the backup use these packages;\n", rep.Transactions)
	fmt.Println("    upload again the .dar files of those the restored node lacks:")
	for _, u := range rep.Packages {
		fmt.Printf("      %s %-14s first used %s in %d transactions\n", u.PackageID, u.PackageName, u.FirstSeen.Format(time.RFC3339Nano), u.Transactions)
	}
	p.Restore(backup, ledgertest.WithCatchUp(true))
	fmt.Printf("    restored: ledger end now %d; %d transactions to recover from the synchronizer, under new offsets\n\n", p.LedgerEnd(), p.Pending())
	catchUp, caughtUp := startCatchUp(p)
	defer catchUp()

	// 3. Forgetting the runbook.
	fmt.Println("[3] Restart ingestion without the runbook.")
	before, err := snapshot(ctx, db, drill)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ing, err := newIngester(db, client, drill, logger, 0)
	if err != nil {
		cancel()
		return err
	}
	refused := ing.Run(rctx)
	cancel()
	if !errors.Is(refused, ingest.ErrParticipantRestored) {
		return fmt.Errorf("ingestion did not notice the restore: %v", refused)
	}
	after, err := snapshot(ctx, db, drill)
	if err != nil {
		return err
	}
	if before != after {
		return errors.New("the refused restart changed the database")
	}
	fmt.Printf("    refused: %v\n    database unchanged ✓\n\n", refused)

	// 4. The runbook.
	fmt.Println("[4] Run the validator node restore runbook (non-unique mode, the default):")
	rb := &recovery.Runbook{
		DB: db, Participant: client, Apply: true, Out: indent{os.Stdout, "    "},
		Options: recovery.Options{Schema: drill, Parties: []string{treasury}, PollInterval: 20 * time.Millisecond, Timeout: time.Minute, Logger: logger, Note: "restore drill"},
	}
	rw, err := rb.Run(ctx)
	if err != nil {
		return err
	}
	// offRecovery is the restored node's offset of the last transaction
	// before tRecovery (#stopAt-2, whoever it belongs to): not later, which
	// would skip #stopAt+1 to #stopAt+3, and not earlier either, which only
	// dedup rows (prunable) would keep from being applied twice.
	if want := offsetOf(p, h.updateID(stopAt-2)); rw.To != want {
		return fmt.Errorf("offRecovery is %d, want %d: the restored node's offset of #%d, the last transaction before tRecovery", rw.To, want, stopAt-2)
	}
	_, err = recovery.Plan(ctx, db, client, recovery.Options{Schema: drill, Parties: []string{treasury}, Mode: recovery.ModeUnique, Logger: logger})
	if !errors.Is(err, recovery.ErrRecordTimeNotUnique) {
		return fmt.Errorf("the unique runbook should refuse here, got %v", err)
	}
	fmt.Printf("    (the unique variant of step 5 would skip #%d-#%d and refuses: %v)\n\n", stopAt+1, stopAt+3, err)

	// 5. Ingestion again, while the exchange keeps transacting.
	fmt.Println("[5] Restart ingestion; new transactions keep arriving.")
	<-caughtUp
	extra := *n / 10
	if err := h.extend(p, extra); err != nil {
		return err
	}
	st, err = ingestTo(ctx, db, client, drill, logger, p.LedgerEnd())
	if err != nil {
		return err
	}
	fmt.Printf("    ingested %d new transactions, %d read again and dropped by update-id dedup; checkpoint at offset %d\n\n", st.Transactions, st.Skipped, st.Offset)
	// Read again: exactly the two of the five sharing tRecovery that were
	// ingested before the stop (#stopAt-1 and #stopAt).
	if st.Skipped != 2 {
		return fmt.Errorf("update-id dedup dropped %d transactions, want 2 (#%d and #%d, ingested before the stop)", st.Skipped, stopAt-1, stopAt)
	}

	// 6. The check.
	fmt.Println("[6] Compare with an undisturbed run of the same history.")
	if err := h.play(twin, 0, *n); err != nil {
		return err
	}
	if err := h.replayExtra(twin); err != nil {
		return err
	}
	if _, err := ingestTo(ctx, db, twinClient, ref, logger, twin.LedgerEnd()); err != nil {
		return err
	}
	got, err := readHistory(ctx, db, drill)
	if err != nil {
		return err
	}
	want, err := readHistory(ctx, db, ref)
	if err != nil {
		return err
	}
	if err := compare(got, want); err != nil {
		return err
	}
	fmt.Printf("    %d transactions, same update ids and record times, same effects, no duplicate, no gap ✓\n", len(got.rows))
	fmt.Printf("    both checkpoints after update %s at %s ✓\n", got.cp.UpdateID, got.cp.RecordTime.Format(time.RFC3339Nano))
	return nil
}

func dial(p *ledgertest.Participant) (*ledger.Client, error) {
	return ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true},
		Admin:     ledger.Endpoint{Target: p.AdminAddr(), Insecure: true},
	})
}

// startCatchUp lets the restored participant recover a few transactions at a
// time in the background. stop ends it; done is closed once it has caught up.
func startCatchUp(p *ledgertest.Participant) (stop func(), done <-chan struct{}) {
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for p.Pending() > 0 {
			select {
			case <-quit:
				return
			case <-t.C:
				p.CatchUp(10)
			}
		}
	}()
	var once bool
	return func() {
		if !once {
			once = true
			close(quit)
			<-finished
		}
	}, finished
}

func newIngester(db *sqlx.DB, client *ledger.Client, schemaName string, logger *slog.Logger, end int64) (*ingest.Ingester, error) {
	effects := schema.Qualify(schemaName, "drill_effects")
	return ingest.New(db, client, ingest.Config{
		Parties:       []string{treasury},
		Schema:        schemaName,
		EndOffset:     end,
		Logger:        logger,
		MinBackoff:    10 * time.Millisecond,
		MaxBackoff:    100 * time.Millisecond,
		LedgerEndPoll: 20 * time.Millisecond,
		Handler: ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
			for _, t := range b.Transactions {
				var cids []string
				for _, e := range t.Events {
					cids = append(cids, e.Contract())
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO `+effects+` VALUES ($1, $2, $3, $4, $5)`,
					t.UpdateID, t.Offset, t.RecordTime, t.CommandID, strings.Join(cids, ",")); err != nil {
					return err
				}
			}
			return nil
		}),
	})
}

func ingestTo(ctx context.Context, db *sqlx.DB, client *ledger.Client, schemaName string, logger *slog.Logger, end int64) (ingest.Stats, error) {
	ing, err := newIngester(db, client, schemaName, logger, end)
	if err != nil {
		return ingest.Stats{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := ing.Run(ctx); err != nil {
		return ingest.Stats{}, err
	}
	return ing.Stats(), nil
}

func offsetOf(p *ledgertest.Participant, updateID string) int64 {
	for _, tx := range p.Transactions() {
		if tx.UpdateID == updateID {
			return tx.Offset
		}
	}
	return 0
}

// snapshot is everything ingestion writes, as one comparable string.
func snapshot(ctx context.Context, db *sqlx.DB, schemaName string) (string, error) {
	var parts []string
	for _, q := range []string{
		`SELECT update_id || '@' || ledger_offset FROM ` + schema.Qualify(schemaName, "drill_effects") + ` ORDER BY 1`,
		`SELECT update_id || '@' || ledger_offset FROM ` + schema.Qualify(schemaName, "ingested_update") + ` ORDER BY 1`,
		`SELECT ledger_offset || ' ' || update_id || ' ' || coalesce(record_time::text, '') FROM ` + schema.Qualify(schemaName, "checkpoint"),
		`SELECT synchronizer_id || ' ' || record_time::text || ' ' || ledger_offset FROM ` + schema.Qualify(schemaName, "synchronizer_time") + ` ORDER BY 1`,
	} {
		var rows []string
		if err := sqlx.SelectContext(ctx, db, &rows, q); err != nil {
			return "", err
		}
		parts = append(parts, strings.Join(rows, "\n"))
	}
	return strings.Join(parts, "\n--\n"), nil
}

type ingested struct {
	rows       []string // update id, record time, command, contracts; offsets left out (a restore changes them)
	duplicates []string
	cp         checkpoint.Checkpoint
}

func readHistory(ctx context.Context, db *sqlx.DB, schemaName string) (ingested, error) {
	var h ingested
	effects := schema.Qualify(schemaName, "drill_effects")
	if err := sqlx.SelectContext(ctx, db, &h.rows, `SELECT update_id || ' ' || to_char(record_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || ' ' || command_id || ' ' || contracts FROM `+effects+` ORDER BY record_time, update_id`); err != nil {
		return h, err
	}
	if err := sqlx.SelectContext(ctx, db, &h.duplicates, `SELECT update_id FROM `+effects+` GROUP BY update_id HAVING count(*) > 1`); err != nil {
		return h, err
	}
	store, err := checkpoint.NewStore(schemaName)
	if err != nil {
		return h, err
	}
	h.cp, _, err = store.Get(ctx, db)
	return h, err
}

func compare(got, want ingested) error {
	if len(got.duplicates) > 0 {
		return fmt.Errorf("transactions applied twice: %v", got.duplicates)
	}
	if !slices.Equal(got.rows, want.rows) {
		for i := range min(len(got.rows), len(want.rows)) {
			if got.rows[i] != want.rows[i] {
				return fmt.Errorf("history differs at row %d: got %q, want %q", i, got.rows[i], want.rows[i])
			}
		}
		return fmt.Errorf("history has %d transactions, the undisturbed run %d", len(got.rows), len(want.rows))
	}
	g, w := got.cp, want.cp
	if g.UpdateID != w.UpdateID || !g.RecordTime.Equal(w.RecordTime) || g.SynchronizerID != w.SynchronizerID {
		return fmt.Errorf("checkpoint after %s at %s, the undisturbed run's after %s at %s", g.UpdateID, g.RecordTime, w.UpdateID, w.RecordTime)
	}
	for s, t := range w.RecordTimes {
		if !g.RecordTimes[s].Equal(t) {
			return fmt.Errorf("record time of synchronizer %s is %s, the undisturbed run's %s", s, g.RecordTimes[s], t)
		}
	}
	return nil
}

// indent prefixes every line written through it.
type indent struct {
	w      io.Writer
	prefix string
}

func (i indent) Write(b []byte) (int, error) {
	lines := strings.SplitAfter(string(b), "\n")
	var out strings.Builder
	for _, l := range lines {
		if l != "" {
			out.WriteString(i.prefix + l)
		}
	}
	if _, err := io.WriteString(i.w, out.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}
