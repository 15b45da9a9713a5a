// Command dbrestoredrill rehearses "Restoring the Canton Integration DB from
// a Backup" end to end, with nothing to set up: an in-process fake
// participant, a local PostgreSQL started from the installed server
// binaries (or -dsn), and the PostgreSQL client programs pg_dump and
// pg_restore for the backup.
//
//	go run ./examples/dbrestoredrill
//	go run ./examples/dbrestoredrill -dsn postgres://user:pass@localhost/db -v
//
// The drill:
//
//  1. runs the integration: ingestion (tokenstd History handler, then the
//     withdrawal Reconciler) and the Withdrawal Automation with a Submitter
//     that acts on the fake ledger; withdrawals are requested and some
//     executed;
//  2. backs the Integration DB up with pg_dump;
//  3. goes on: more withdrawals are requested, the ledger executes some
//     (1-step transfers and transfer offers the receiver accepts), others
//     never commit and lapse when the record time passes their trecTgt;
//     wd-b5 is submitted last, its transfer still in flight;
//  4. restores the backup with pg_restore inside withdrawal.RestoreProcedure:
//     withdrawals disabled, restore, wait until the ingested record time
//     passes tSafe while ingestion re-ingests and wd-b5's transfer
//     commits (re-created as recovered), withdrawals enabled;
//  5. checks the result: every withdrawal executed on the ledger is in the
//     database (restored, or — lost in the restore — re-created marked
//     recovered, with the request's amount, instrument and receiver), none
//     was executed twice, no holding is still reserved, the lapsed one the
//     backup knew is expired, every withdrawal that did not happen (and no
//     other) refunded once its reserved funds, the gate held while waiting
//     (a request refused, the automation paused) and opened only after
//     tSafe, itself checked to be at least now + ttl and after every
//     trecTgt the drill requested, and the treasury's balances equal the
//     ledger's.
//
// It exits 0 when every check passes. With -dsn it works in a new schema
// and drops it at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/cantonx/txhistory/examples/internal/exampledb"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"github.com/shopspring/decimal"
)

const (
	treasury = "treasury::1220d1ce"
	receiver = "exchange-b::1220d1ce"
	// ttl is the exchange's withdrawal time to live: trecTgt = now + ttl.
	ttl = 10 * time.Minute
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dbrestoredrill: FAIL:", ingest.Redact(err.Error()))
		os.Exit(1)
	}
	fmt.Println("PASS")
}

func run() error {
	var (
		dsn     = flag.String("dsn", "", "PostgreSQL connection string; empty starts a local throwaway server")
		pgBin   = flag.String("pg-bin", "", "directory of pg_dump and pg_restore; empty looks in $PG_BINDIR, pg_config --bindir, /usr/lib/postgresql/*/bin and $PATH")
		verbose = flag.Bool("v", false, "log what ingestion, the reconciler and the procedure do")
	)
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	pgDump, err := findTool(*pgBin, "pg_dump")
	if err != nil {
		return err
	}
	pgRestore, err := findTool(*pgBin, "pg_restore")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The Integration DB, in a schema of its own.
	db, connStr, closeDB, err := exampledb.Open(ctx, *dsn, "txhistory-dbrestoredrill", os.Stdout)
	if err != nil {
		return err
	}
	defer closeDB()
	schemaName := fmt.Sprintf("dbrestoredrill_%d_%04d", time.Now().Unix(), rand.IntN(10000))
	if err := schema.Migrate(ctx, db, schema.WithSchema(schemaName)); err != nil {
		return err
	}
	defer db.Exec(`DROP SCHEMA IF EXISTS ` + schemaName + ` CASCADE`)
	x := &exchange{ctx: ctx, db: db, schema: schemaName, log: logger, world: &ledgertest.TokenWorld{},
		plan: map[string]string{}, offers: map[string]string{}, submissions: map[string]int{}, requests: map[string]withdrawal.Request{}}
	if err := x.setUp(); err != nil {
		return err
	}
	defer x.close()
	fmt.Printf("schema %s; fake participant on %s; treasury %s; withdrawal ttl %s\n\n", schemaName, x.p.Addr(), treasury, ttl)

	// 1. Normal operation.
	fmt.Println("[1] Normal operation: ingestion with the History handler and the withdrawal Reconciler, and the Withdrawal Automation.")
	holdings, err := x.mint(12, "100")
	if err != nil {
		return err
	}
	if err := x.startIngester(); err != nil {
		return err
	}
	if err := x.caughtUp(); err != nil {
		return err
	}
	fmt.Printf("    the treasury holds %d holdings of 100 %s\n", len(holdings), x.world.Instrument().ID)
	for i, c := range []struct{ id, plan, amount string }{
		{"wd-a1", planNow, "40"}, {"wd-a2", planLater, "41"}, {"wd-a3", planNever, "42"}, {"wd-a4", planOffer, "43"}, {"wd-a5", planNoPreapproval, "44"},
	} {
		if err := x.request(c.id, c.plan, c.amount, holdings[i]); err != nil {
			return err
		}
	}
	round, err := x.auto.RunOnce(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("    automation: %d submitted, %d failed (no transfer pre-approval)\n", round.Submitted, round.Failed)
	if err := x.caughtUp(); err != nil {
		return err
	}
	if err := x.printStatuses(); err != nil {
		return err
	}

	// 2. Backup.
	fmt.Println("\n[2] Back up the Integration DB.")
	backup := filepath.Join(os.TempDir(), schemaName+".dump")
	defer os.Remove(backup)
	if err := tool(ctx, pgDump, connStr, "--format=custom", "--schema="+schemaName, "--file="+backup); err != nil {
		return err
	}
	fmt.Printf("    pg_dump --schema=%s → %s (ingested record time %s)\n", schemaName, backup, x.now.Format(time.RFC3339Nano))

	// 3. Life goes on.
	fmt.Println("\n[3] After the backup: more withdrawals; the ledger executes some, others lapse.")
	x.advance(time.Minute)
	for i, c := range []struct{ id, plan, amount string }{
		{"wd-b1", planNow, "50"}, {"wd-b2", planNow, "51"}, {"wd-b3", planOfferNow, "52"}, {"wd-b4", planNever, "53"},
	} {
		if err := x.request(c.id, c.plan, c.amount, holdings[5+i]); err != nil {
			return err
		}
	}
	if round, err = x.auto.RunOnce(ctx); err != nil {
		return err
	}
	fmt.Printf("    automation: %d submitted\n", round.Submitted)
	for _, w := range x.queued {
		if err := x.execute(w); err != nil {
			return err
		}
	}
	x.queued = nil
	for _, id := range []string{"wd-a4", "wd-b3"} {
		if _, err := x.append(x.world.Accept(x.offers[id])); err != nil {
			return err
		}
	}
	fmt.Println("    the ledger: wd-a2 committed late, wd-a4 and wd-b3 offered and accepted, wd-a3 and wd-b4 never commit")
	x.advance(ttl + time.Minute)
	fmt.Printf("    the record time moves on to %s: wd-a3 and wd-b4 lapse\n", x.now.Format(time.RFC3339Nano))
	if err := x.caughtUp(); err != nil {
		return err
	}
	if err := x.printStatuses(); err != nil {
		return err
	}
	// One in flight across the restore: requested and submitted after the
	// backup, its transfer commits while the procedure waits for tSafe.
	if err := x.request("wd-b5", planLater, "54", holdings[10]); err != nil {
		return err
	}
	if round, err = x.auto.RunOnce(ctx); err != nil {
		return err
	}
	if round.Submitted != 1 || len(x.queued) != 1 {
		return fmt.Errorf("wd-b5 was not submitted: %+v", round)
	}
	x.advance(time.Second)
	fmt.Println("    wd-b5 submitted; its transfer is still in flight when the disaster strikes")

	// 4. The restore procedure.
	fmt.Println("\n[4] Disaster: restore the Integration DB from the backup, with withdrawal.RestoreProcedure.")
	restored := map[string]withdrawal.Status{}
	polls, checked := 0, false
	var g gated
	g.restoreNow = x.now // the procedure's Now() in step 1: tSafe must be at least this + ttl
	proc := withdrawal.RestoreProcedure{
		Store:        x.store,
		TTL:          ttl,
		Now:          func() time.Time { return x.now }, // the fake ledger's clock stands in for the wall clock
		PollInterval: 10 * time.Millisecond,
		Logger:       logger,
		Restore: func(ctx context.Context) error {
			fmt.Println("          operator: stop ingestion; pg_restore --clean --single-transaction; renumber the history's Seq; start ingestion")
			x.stopIngester()
			if err := tool(ctx, pgRestore, connStr, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", backup); err != nil {
				return err
			}
			// Readers paging the history by Seq must not meet the values
			// the backup's sequence hands out again.
			if err := tokenstd.RenumberAfterRestore(ctx, x.db, schemaName); err != nil {
				return err
			}
			ws, err := x.store.ListByStatus(ctx)
			if err != nil {
				return err
			}
			var held []string
			for _, w := range ws {
				restored[w.ID] = w.Status
				held = append(held, fmt.Sprintf("%s %s", w.ID, w.Status))
			}
			fmt.Printf("          the backup holds: %s\n", strings.Join(held, ", "))
			return x.startIngester()
		},
		Progress: func(pr withdrawal.RestoreProgress) {
			switch {
			case pr.Step == withdrawal.StepWait && !pr.Done && pr.Waited > 0:
				polls++
				if !checked {
					checked = true
					_, err := x.store.Create(ctx, x.newRequest("wd-early", "10", holdings[9]))
					g.createErr, g.probed = err, true
					fmt.Printf("          meanwhile a user asks for a withdrawal: %v\n", err)
					r, err := x.auto.RunOnce(ctx)
					g.round, g.roundErr = r, err
					if err == nil {
						fmt.Printf("          and the automation: paused=%t (%s)\n", r.Paused, r.GateReason)
					}
					for _, w := range x.queued {
						if err := x.execute(w); err != nil {
							fmt.Printf("          the ledger: executing %s: %v\n", w.ID, err)
						}
						fmt.Printf("          meanwhile the ledger commits %s's transfer, submitted before the restore\n", w.ID)
					}
					x.queued = nil
				}
				if polls%5 == 0 {
					fmt.Printf("          %s\n", pr.Message)
					x.advance(ttl / 4) // time passes on the ledger
				}
			case !pr.Done:
				fmt.Printf("    Step %d. %s: %s\n", int(pr.Step), pr.Step, pr.Message)
			default:
				fmt.Printf("          %s\n", pr.Message)
			}
		},
	}
	// A library that never lets the wait end (ingestion stuck on a batch)
	// must fail the drill, not hang it.
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	rep, err := proc.Run(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("the restore procedure: %w", err)
	}

	// 5. Checks.
	fmt.Println("\n[5] Check the Integration DB against the ledger.")
	if err := x.caughtUp(); err != nil {
		return err
	}
	if err := x.printStatuses(); err != nil {
		return err
	}
	onLedger, err := x.ledgerWithdrawals()
	if err != nil {
		return err
	}
	if b5, ok := onLedger["wd-b5"]; !ok || !b5.RecordTime.After(g.restoreNow) || b5.RecordTime.After(rep.Ingested) {
		return fmt.Errorf("wd-b5's transfer did not commit while the gate was closed: %+v", b5)
	}
	return x.check(rep, onLedger, restored, g)
}

// gated is what the drill saw of the gate during the procedure.
type gated struct {
	restoreNow time.Time // the ledger's record time when the procedure started
	probed     bool      // the probes below ran, during the wait for tSafe
	createErr  error     // a user's request during the wait
	round      withdrawal.Round
	roundErr   error // the automation's round during the wait
}

// findTool finds the PostgreSQL client program name: in dir (-pg-bin)
// only, when given, else in the places -pg-bin's help lists.
func findTool(dir, name string) (string, error) {
	if dir != "" {
		// The operator chose these binaries (the server's version, say):
		// none other may stand in for them.
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("-pg-bin %s: %s not found there: %w", dir, name, err)
		}
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("PG_BINDIR"); d != "" {
		dirs = append(dirs, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(versions) - 1; i >= 0; i-- { // newest first, roughly
		dirs = append(dirs, versions[i])
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: install the PostgreSQL client programs or pass -pg-bin", name)
}

// tool runs pg_dump or pg_restore on the database of connStr, given as
// --dbname=.... The password goes through PGPASSWORD instead, out of the
// process list (withoutPassword).
func tool(ctx context.Context, path, connStr string, args ...string) error {
	cmd := exec.CommandContext(ctx, path)
	if rest, pw, ok := withoutPassword(connStr); ok {
		connStr = rest
		cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
	}
	// --dbname first: options after an operand (pg_restore's file) are
	// operands too under POSIXLY_CORRECT.
	cmd.Args = append(append(cmd.Args, "--dbname="+connStr), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(path), err, out)
	}
	return nil
}

// The Submitter's plans.
const (
	planNow           = "1-step transfer, commits at once"
	planLater         = "1-step transfer, commits after the backup"
	planOffer         = "transfer offer after the backup, accepted"
	planOfferNow      = "transfer offer at once, accepted"
	planNever         = "never commits"
	planNoPreapproval = "receiver without transfer pre-approval"
)

// exchange is the drill's exchange: its Integration DB, its ingestion and
// automation, and the fake ledger they talk to.
type exchange struct {
	ctx    context.Context
	db     *sqlx.DB
	schema string
	log    *slog.Logger

	p      *ledgertest.Participant
	client *ledger.Client
	world  *ledgertest.TokenWorld
	now    time.Time // the ledger's latest record time

	store *withdrawal.Store
	auto  *withdrawal.Automation
	cps   *checkpoint.Store

	plan        map[string]string // withdrawal id → what the ledger does with it
	offers      map[string]string // withdrawal id → transfer instruction
	queued      []*withdrawal.Withdrawal
	submissions map[string]int
	requests    map[string]withdrawal.Request // every withdrawal requested, lost in the restore or not

	stopIng context.CancelFunc
	ingDone chan error
}

func (x *exchange) setUp() error {
	refunds := schema.Qualify(x.schema, "exchange_refund")
	if _, err := x.db.ExecContext(x.ctx, `CREATE TABLE `+refunds+` (withdrawal_id text PRIMARY KEY, account text NOT NULL, amount numeric NOT NULL)`); err != nil {
		return err
	}
	var err error
	if x.p, err = ledgertest.New(ledgertest.WithCheckpointInterval(10 * time.Millisecond)); err != nil {
		return err
	}
	if x.client, err = ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: x.p.Addr(), Insecure: true}}); err != nil {
		return err
	}
	x.store, err = withdrawal.NewStore(x.db, withdrawal.Config{
		Schema: x.schema, Treasury: treasury, Logger: x.log,
		// The exchange credits reserved user funds back; the primary key
		// makes a second refund of one withdrawal fail loudly.
		Refunder: withdrawal.RefundFunc(func(ctx context.Context, tx *sqlx.Tx, w *withdrawal.Withdrawal) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO `+refunds+` VALUES ($1, $2, $3)`, w.ID, w.UserAccount, w.ReservedFunds.String())
			return err
		}),
	})
	if err != nil {
		return err
	}
	if x.cps, err = checkpoint.NewStore(x.schema); err != nil {
		return err
	}
	x.auto, err = withdrawal.NewAutomation(x.store, withdrawal.AutomationConfig{Logger: x.log, Submitter: withdrawal.SubmitFunc(x.submit)})
	return err
}

func (x *exchange) close() {
	x.stopIngester()
	if x.client != nil {
		_ = x.client.Close()
	}
	if x.p != nil {
		x.p.Close()
	}
}

// startIngester starts ingestion, tailing the ledger in the background.
func (x *exchange) startIngester() error {
	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Schema: x.schema, Logger: x.log})
	if err != nil {
		return err
	}
	rec, err := withdrawal.NewReconciler(x.store, withdrawal.ReconcilerConfig{History: history})
	if err != nil {
		return err
	}
	ing, err := ingest.New(x.db, x.client, ingest.Config{
		Parties: []string{treasury}, Schema: x.schema, Logger: x.log,
		Handler:       ingest.Handlers(history, rec), // History first: the Reconciler uses its entries
		MaxBatchDelay: 5 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(x.ctx)
	x.stopIng, x.ingDone = cancel, make(chan error, 1)
	go func() { x.ingDone <- ing.Run(ctx) }()
	return nil
}

func (x *exchange) stopIngester() {
	if x.stopIng != nil {
		x.stopIng()
		<-x.ingDone
		x.stopIng = nil
	}
}

// caughtUp waits until ingestion has reached the ledger end and the
// ledger's record time.
func (x *exchange) caughtUp() error {
	end := x.p.LedgerEnd()
	ctx, cancel := context.WithTimeout(x.ctx, time.Minute)
	defer cancel()
	for {
		select {
		case err := <-x.ingDone:
			x.stopIng = nil
			return fmt.Errorf("ingestion stopped: %w", err)
		default:
		}
		cp, _, err := x.cps.Get(ctx, x.db)
		if err != nil {
			return err
		}
		if cp.Offset >= end && !cp.MaxRecordTime().Before(x.now) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ingestion did not catch up (checkpoint offset %d, ledger end %d): %w", cp.Offset, end, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (x *exchange) append(txs ...*ledger.Transaction) ([]*ledger.Transaction, error) {
	out, err := x.p.Append(txs...)
	for _, tx := range out {
		if tx.RecordTime.After(x.now) {
			x.now = tx.RecordTime
		}
	}
	return out, err
}

func (x *exchange) advance(d time.Duration) {
	x.now = x.now.Add(d)
	x.p.AdvanceTime("", x.now)
}

func (x *exchange) mint(n int, amount string) ([]string, error) {
	var ops []ledgertest.TokenOp
	var cids []string
	for range n {
		op := x.world.MintOp(treasury, amount)
		ops = append(ops, op)
		cids = append(cids, op.Created[0].ContractID)
	}
	_, err := x.append(x.world.Tx(ops...))
	return cids, err
}

func (x *exchange) newRequest(id, amount, holding string) withdrawal.Request {
	a := mustDecimal(amount)
	inst := x.world.Instrument()
	return withdrawal.Request{
		ID: id, UserAccount: "user-" + id, Amount: a, Instrument: tokenstd.Instrument{Admin: inst.Admin, ID: inst.ID},
		Receiver: receiver, ReservedHoldings: []string{holding}, ReservedFunds: a.Add(mustDecimal("1")), TrecTgt: x.now.Add(ttl),
	}
}

// request is what the exchange's internal systems do when a user asks.
func (x *exchange) request(id, plan, amount, holding string) error {
	x.plan[id] = plan
	w, err := x.store.Create(x.ctx, x.newRequest(id, amount, holding))
	if err != nil {
		return err
	}
	x.requests[id] = w.Request
	fmt.Printf("    requested %s: %s %s to %s, reserving %s, trecTgt %s (%s)\n", w.ID, w.Amount, w.Instrument.ID, w.Receiver,
		w.ReservedHoldings[0], w.TrecTgt.Format(time.RFC3339Nano), plan)
	return nil
}

// submit is the Withdrawal Automation's Submitter: it acts on the fake
// ledger as the plan says.
func (x *exchange) submit(_ context.Context, w *withdrawal.Withdrawal) error {
	x.submissions[w.ID]++
	switch x.plan[w.ID] {
	case planNow, planOfferNow:
		return x.execute(w)
	case planLater, planOffer:
		x.queued = append(x.queued, w)
	case planNoPreapproval:
		return withdrawal.ErrNoPreapproval
	}
	return nil
}

func (x *exchange) execute(w *withdrawal.Withdrawal) error {
	spec := ledgertest.TransferSpec{Sender: treasury, Receiver: w.Receiver, Amount: w.Amount.String(),
		InputHoldings: w.ReservedHoldings, Reason: w.ID, Fee: "0.1"}
	switch x.plan[w.ID] {
	case planOffer, planOfferNow:
		tx, icid := x.world.Offer(spec)
		x.offers[w.ID] = icid
		_, err := x.append(tx)
		return err
	}
	_, err := x.append(x.world.Transfer(spec))
	return err
}

func (x *exchange) printStatuses() error {
	ws, err := x.store.ListByStatus(x.ctx)
	if err != nil {
		return err
	}
	var parts []string
	for _, w := range ws {
		s := fmt.Sprintf("%s %s", w.ID, w.Status)
		if w.Recovered && w.Status != withdrawal.StatusRecovered {
			s += " (recovered)"
		}
		parts = append(parts, s)
	}
	fmt.Printf("    withdrawals: %s\n", strings.Join(parts, ", "))
	return nil
}

// ledgerWithdrawals classifies the whole ledger: withdrawal id → the update
// that paid it out, with the fee of every step of its transfer (an offer's
// lock, the payment: what Withdrawal.Fee sums).
func (x *exchange) ledgerWithdrawals() (map[string]tokenstd.Entry, error) {
	out := map[string]tokenstd.Entry{}
	fees := map[string]decimal.Decimal{}
	set := tokenstd.NewHoldingSet()
	for _, tx := range x.p.Transactions() {
		entries, err := tokenstd.Classify(tx, treasury, set)
		if err != nil {
			return nil, err
		}
		set.Apply(entries)
		for _, e := range entries {
			if e.WithdrawalID != "" {
				fees[e.WithdrawalID] = fees[e.WithdrawalID].Add(e.Fee)
			}
			if e.Kind != tokenstd.KindWithdrawal {
				continue
			}
			if prev, dup := out[e.WithdrawalID]; dup {
				return nil, fmt.Errorf("withdrawal %s executed twice on the ledger: updates %s and %s", e.WithdrawalID, prev.UpdateID, e.UpdateID)
			}
			out[e.WithdrawalID] = e
		}
	}
	for id, e := range out {
		e.Fee = fees[id]
		out[id] = e
	}
	return out, nil
}

func (x *exchange) check(rep *withdrawal.RestoreReport, onLedger map[string]tokenstd.Entry, restored map[string]withdrawal.Status, g gated) error {
	ok := func(format string, args ...any) { fmt.Printf("    "+format+" ✓\n", args...) }
	ws, err := x.store.ListByStatus(x.ctx)
	if err != nil {
		return err
	}
	byID := map[string]*withdrawal.Withdrawal{}
	for _, w := range ws {
		byID[w.ID] = w
	}
	for _, id := range slices.Sorted(maps.Keys(onLedger)) {
		e, w := onLedger[id], byID[id]
		switch {
		case w == nil:
			return fmt.Errorf("withdrawal %s was executed on the ledger (update %s) but is not in the database", id, e.UpdateID)
		case !w.Status.PaidOut():
			return fmt.Errorf("withdrawal %s was executed on the ledger but is %s", id, w.Status)
		case w.UpdateID != e.UpdateID || !w.RecordTime.Equal(e.RecordTime) || !w.Fee.Equal(e.Fee) || !w.Transferred.Equal(e.Transferred):
			return fmt.Errorf("withdrawal %s: the database says update %s at %s, fee %s; the ledger update %s at %s, fee %s",
				id, w.UpdateID, w.RecordTime, w.Fee, e.UpdateID, e.RecordTime, e.Fee)
		}
		// One the backup did not know was lost in the restore: re-ingestion
		// must re-create it, marked recovered, with what the ledger says
		// of it. One the backup knew must not be marked recovered.
		req, lost := x.requests[id], restored[id] == ""
		switch {
		case lost && (!w.Recovered || w.Status != withdrawal.StatusRecovered):
			return fmt.Errorf("withdrawal %s was lost in the restore and re-created by re-ingestion, but is %s (recovered flag %t), not marked recovered", id, w.Status, w.Recovered)
		case !lost && (w.Recovered || w.Status != withdrawal.StatusCompleted):
			return fmt.Errorf("withdrawal %s was in the backup, but is %s (recovered flag %t), not completed", id, w.Status, w.Recovered)
		case w.Amount.IsZero() || !w.Amount.Equal(req.Amount) || w.Receiver != req.Receiver || w.Instrument != req.Instrument:
			return fmt.Errorf("withdrawal %s: the database says %s %s to %s, the request was %s %s to %s",
				id, w.Amount, w.Instrument, w.Receiver, req.Amount, req.Instrument, req.Receiver)
		}
		how := fmt.Sprintf("restored as %s, completed by re-ingestion", restored[id])
		switch {
		case lost:
			how = "lost in the restore, recovered from the ledger"
		case restored[id] == withdrawal.StatusCompleted:
			how = "completed before the backup, restored"
		}
		ok("%s: paid out by update %s at %s, fee %s — %s", id, w.UpdateID, w.RecordTime.Format(time.RFC3339Nano), w.Fee, how)
	}
	for _, w := range ws {
		if w.Status.PaidOut() && onLedger[w.ID].UpdateID == "" {
			return fmt.Errorf("withdrawal %s is %s but the ledger shows no transfer", w.ID, w.Status)
		}
	}
	round, err := x.auto.RunOnce(x.ctx)
	if err != nil {
		return err
	}
	if round.Submitted+round.Failed+round.Errors > 0 {
		return fmt.Errorf("the automation found withdrawals to submit after the restore: %+v", round)
	}
	for id, n := range x.submissions {
		if n > 1 {
			return fmt.Errorf("withdrawal %s was submitted %d times", id, n)
		}
	}
	ok("none executed twice: one transfer per withdrawal on the ledger, each submitted once, nothing left to submit")

	res, err := x.store.Reservations(x.ctx)
	if err != nil {
		return err
	}
	if len(res) > 0 {
		return fmt.Errorf("holdings still reserved: %v", res)
	}
	ok("no holding is reserved any more")
	var refunds []string
	if err := x.db.SelectContext(x.ctx, &refunds, `SELECT withdrawal_id || ' ' || amount FROM `+schema.Qualify(x.schema, "exchange_refund")+` ORDER BY 1`); err != nil {
		return err
	}
	if a3 := byID["wd-a3"]; a3 == nil || a3.Status != withdrawal.StatusExpired {
		return fmt.Errorf("wd-a3 (lapsed, known to the backup) is not expired: %+v", a3)
	}
	if a5 := byID["wd-a5"]; a5 == nil || a5.Status != withdrawal.StatusFailed {
		return fmt.Errorf("wd-a5 (no transfer pre-approval) is not failed: %+v", a5)
	}
	// Every withdrawal that did not happen has its reserved funds back,
	// once; no other has.
	var wantRefunds []string
	for _, w := range ws {
		switch w.Status {
		case withdrawal.StatusFailed, withdrawal.StatusExpired, withdrawal.StatusRejected, withdrawal.StatusWithdrawn:
			wantRefunds = append(wantRefunds, w.ID+" "+x.requests[w.ID].ReservedFunds.String())
		}
	}
	slices.Sort(wantRefunds)
	if !slices.Equal(refunds, wantRefunds) {
		return fmt.Errorf("refunds paid: %v; want one per withdrawal that did not happen, of its reserved funds: %v", refunds, wantRefunds)
	}
	if _, lost := byID["wd-b4"]; lost {
		return errors.New("wd-b4 (lapsed, requested after the backup) came back")
	}
	ok("lapsed: wd-a3 expired and released; wd-b4 was lost with the backup and never reached the ledger; refunds paid: %s",
		strings.Join(refunds, ", "))

	// tSafe, checked against the drill's own numbers rather than the
	// procedure's: after the trecTgt of every withdrawal ever requested
	// (those lost in the restore too), and, estimated, now + ttl.
	for _, id := range slices.Sorted(maps.Keys(x.requests)) {
		if t := x.requests[id].TrecTgt; rep.TSafe.Before(t) {
			return fmt.Errorf("tSafe %s is before the trecTgt %s of withdrawal %s", rep.TSafe.Format(time.RFC3339Nano), t.Format(time.RFC3339Nano), id)
		}
	}
	if want := g.restoreNow.Add(ttl); !rep.Estimated || rep.TSafe.Before(want) {
		return fmt.Errorf("tSafe %s (estimated %t): want it estimated as now + ttl = %s or later", rep.TSafe.Format(time.RFC3339Nano), rep.Estimated, want.Format(time.RFC3339Nano))
	}
	// While the procedure waited, the gate held: a user's request was
	// refused and the automation paused.
	switch {
	case !g.probed:
		return errors.New("the procedure did not wait for tSafe: the gate was never probed while closed")
	case !errors.Is(g.createErr, withdrawal.ErrWithdrawalsDisabled):
		return fmt.Errorf("a withdrawal requested while waiting for tSafe: %v, want %v", g.createErr, withdrawal.ErrWithdrawalsDisabled)
	case g.roundErr != nil || !g.round.Paused || g.round.Submitted+g.round.Failed+g.round.Errors > 0:
		return fmt.Errorf("the automation while waiting for tSafe: %+v, %v; want it paused", g.round, g.roundErr)
	}
	if _, made := byID["wd-early"]; made {
		return errors.New("wd-early, requested while waiting for tSafe, exists")
	}
	log, err := x.store.GateLog(x.ctx)
	if err != nil {
		return err
	}
	last := log[len(log)-1]
	if !last.Enabled || !last.IngestedRecordTime.After(last.TSafe) || !last.TSafe.Equal(rep.TSafe) || !rep.Ingested.After(rep.TSafe) {
		return fmt.Errorf("the gate log's last change is not an opening after tSafe: %+v", last)
	}
	for _, c := range log[:len(log)-1] {
		if c.Enabled && !c.ChangedAt.Before(rep.DisabledAt) {
			return fmt.Errorf("the gate opened during the procedure before its last change: %+v", c)
		}
	}
	ok("the gate held while waiting (request refused, automation paused) and opened at ingested record time %s, after tSafe %s ≥ now + ttl and every trecTgt (waited %s)",
		last.IngestedRecordTime.Format(time.RFC3339Nano), last.TSafe.Format(time.RFC3339Nano), rep.Waited.Round(time.Millisecond))

	got, err := tokenstd.Balances(x.ctx, x.db, x.schema)
	if err != nil {
		return err
	}
	for inst, want := range x.world.Balances(treasury) {
		have := got[tokenstd.Instrument{Admin: inst.Admin, ID: inst.ID}]
		if !have.Equal(want) {
			return fmt.Errorf("treasury balance of %s: ledger %s, Integration DB %s", inst, want, have)
		}
		ok("treasury balance of %s: %s, as on the ledger", inst.ID, have)
	}
	return nil
}

func mustDecimal(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// blanks separate a key=value string's pairs, as isspace does for libpq.
const blanks = " \t\n\r\f\v"

// withoutPassword returns connStr without its password, and the password,
// if it has one: a URL's user info or password parameter, or a key=value
// string's password (quoted or not, as libpq reads it).
func withoutPassword(connStr string) (rest, password string, ok bool) {
	if u, err := url.Parse(connStr); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if u.User != nil {
			if pw, set := u.User.Password(); set {
				password, ok = pw, true
				u.User = url.User(u.User.Username())
			}
		}
		if q := u.Query(); q.Has("password") {
			password, ok = q.Get("password"), true
			q.Del("password")
			u.RawQuery = q.Encode()
		}
		return u.String(), password, ok
	}
	// key=value pairs separated by blanks (spaces, tabs, newlines); a value
	// may be single-quoted; quoted or not, a backslash escapes the next
	// character (\', \\, "\ ").
	var kept []string
	for s := strings.TrimSpace(connStr); s != ""; s = strings.TrimSpace(s) {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return connStr, "", false // not a string libpq reads: left alone
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], blanks)
		var raw, val string
		if strings.HasPrefix(s, "'") {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return connStr, "", false // an unterminated quote
			}
			raw, val, s = s[:i+1], b.String(), s[i+1:]
		} else {
			var b strings.Builder
			i := 0
			for ; i < len(s) && !strings.ContainsRune(blanks, rune(s[i])); i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			raw, val, s = s[:i], b.String(), s[i:]
		}
		if key == "password" {
			password, ok = val, true
			continue
		}
		kept = append(kept, key+"="+raw)
	}
	return strings.Join(kept, " "), password, ok
}
