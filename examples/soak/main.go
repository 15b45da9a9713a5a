// Command soak ingests from a fake participant that keeps appending, for a
// given duration, while injecting random faults every few seconds; then it
// lets ingestion finish and compares the database with an undisturbed run.
//
//	go run ./examples/soak -duration 10m
//	go run ./examples/soak -duration 2m -fault-every 2s -seed 42
//
// The ingester runs in a child process (this program re-executed), so that
// it can be killed with SIGKILL like a crashed pod. The faults, chosen at
// random:
//
//   - stream-drop: open and new streams break after a few items (UNAVAILABLE
//     without status details, like a reset connection), for a moment;
//   - unavailable: the next few GetUpdates calls fail with UNAVAILABLE;
//   - token-expiry: open streams end with ABORTED ACCESS_TOKEN_EXPIRED;
//   - stall: streams send nothing, not even checkpoints, for longer than the
//     ingester's stall timeout;
//   - participant-restart: every connection to the participant breaks and
//     new ones are refused for up to two seconds (the ingester reaches it
//     through a proxy);
//   - pg-restart: PostgreSQL is stopped (fast shutdown) and started again
//     after up to two seconds;
//   - pg-terminate: the ingester's PostgreSQL sessions are ended
//     (pg_terminate_backend);
//   - sigkill: the ingester process is killed with SIGKILL and restarted.
//
// -faults picks the kinds. The ingester runs the handler chain of
// examples/ingestd (the token standard History and the withdrawal
// Reconciler) after a table of its own, and two in five of the appended
// transactions are token standard transfers (deposits and withdrawals).
//
// Before each fault, soak records the ingester's resources: goroutines,
// the heap in use after a GC, open file descriptors and sockets, its pool's
// connections and its sessions in pg_stat_activity (-stats-every prints
// them). After the catch-up and a settle period (-settle), what the last
// ingester process holds must not exceed what it held after its first few
// faults, plus a small margin: a goroutine, connection or buffer left
// behind per fault fails the soak. That verdict needs one process to see
// many faults: run without sigkill for it, e.g.
//
//	go run ./examples/soak -duration 15m -fault-every 1s -faults stream-drop,unavailable,token-expiry,stall,participant-restart,pg-restart,pg-terminate
//
// At the end appending stops, the ingester catches up to the ledger end and
// is stopped with SIGTERM (it must exit 0), and the same history is
// ingested again, without faults, into a second database. The two must hold
// the same effects (update id, offset and record time of every
// transaction, each once), the same dedup rows (every column but
// ingested_at), the same per-synchronizer record times and checkpoint, the
// same token history and withdrawals, and none set aside for review. soak prints a summary and exits 1 on any
// mismatch or unexpected ingester failure.
//
// It is not part of the test suite: it runs for minutes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"google.golang.org/grpc/codes"
)

const (
	treasury = "treasury::1220soak"
	other    = "someone-else::1220soak"

	childEnv       = "TXHISTORY_SOAK_CHILD"
	childDSNEnv    = "TXHISTORY_SOAK_DSN"
	childLedgerEnv = "TXHISTORY_SOAK_LEDGER"
	childTokenEnv  = "TXHISTORY_SOAK_TOKEN"
	childStatsEnv  = "TXHISTORY_SOAK_STATS"

	// childAppName is the application_name of the ingester's PostgreSQL
	// sessions, by which the parent counts them in pg_stat_activity.
	childAppName = "txhistory-soak-ingester"

	stallTimeout = time.Second
)

func main() {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	os.Exit(parentMain())
}

// ---------------------------------------------------------------------------
// The child: an ingester that tails until SIGTERM.

func childMain() int {
	log := newChildLogger()
	db, err := sqlx.Open("postgres", os.Getenv(childDSNEnv))
	if err != nil {
		log("open: %v", err)
		return 2
	}
	defer db.Close()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{
		Target: os.Getenv(childLedgerEnv), Insecure: true, Tokens: ledger.StaticToken(os.Getenv(childTokenEnv)),
	}})
	if err != nil {
		log("dial: %v", err)
		return 2
	}
	defer client.Close()
	handler, err := handlerChain(db)
	if err != nil {
		log("handlers: %v", err)
		return 2
	}
	if path := os.Getenv(childStatsEnv); path != "" {
		go writeStats(path, db)
	}
	ing, err := ingest.New(db, client, ingest.Config{
		Parties:      []string{treasury},
		Handler:      handler,
		MaxBatchSize: 100,
		StallTimeout: stallTimeout,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   500 * time.Millisecond,
		LockPoll:     100 * time.Millisecond,
	})
	if err != nil {
		log("new: %v", err)
		return 2
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		ing.Stop()
	}()
	if err := ing.Run(context.Background()); err != nil {
		log("ingestion failed: %v", err)
		return 1
	}
	return 0
}

func newChildLogger() func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "child %d: %s\n", os.Getpid(), ingest.Redact(fmt.Sprintf(format, args...)))
	}
}

// effects is one row per applied transaction and deliberately no unique
// constraint: a transaction applied twice shows up as two rows.
const effectsDDL = `CREATE TABLE IF NOT EXISTS effects (update_id text NOT NULL, ledger_offset bigint NOT NULL, record_time timestamptz NOT NULL)`

var effectsHandler = ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	if len(b.Transactions) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO effects VALUES `)
	args := make([]any, 0, 3*len(b.Transactions))
	for i, t := range b.Transactions {
		if i > 0 {
			q.WriteByte(',')
		}
		fmt.Fprintf(&q, "($%d,$%d,$%d)", 3*i+1, 3*i+2, 3*i+3)
		args = append(args, t.UpdateID, t.Offset, t.RecordTime)
	}
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
})

// ---------------------------------------------------------------------------
// The parent: participant, PostgreSQL, faults, comparison.

type soak struct {
	duration   time.Duration
	faultEvery time.Duration
	rate       int
	rng        *rand.Rand
	verbose    bool

	p       *ledgertest.Participant
	srv     *pgtest.Server
	dsn     string
	token   string
	logFile *os.File

	faults   map[string]int
	faultsMu sync.Mutex
	kinds    []string     // the fault kinds to inject
	appended atomic.Int64 // treasury transactions appended
	tokenTxs atomic.Int64 // of which token standard transfers (TransferHistory)
	child    *supervisor
	proxy    *proxy

	leaks  *leakRecorder
	settle time.Duration
}

func (s *soak) totalFaults() int {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	var n int
	for _, k := range s.faults {
		n += k
	}
	return n
}

func parentMain() int {
	s := &soak{faults: map[string]int{}}
	seed := flag.Uint64("seed", 0, "random seed (0: from the clock)")
	flag.DurationVar(&s.duration, "duration", 10*time.Minute, "how long to append and inject faults")
	flag.DurationVar(&s.faultEvery, "fault-every", 3*time.Second, "mean interval between faults")
	flag.IntVar(&s.rate, "rate", 300, "transactions appended per second")
	flag.BoolVar(&s.verbose, "v", false, "print every fault as it happens")
	kinds := flag.String("faults", strings.Join(faultKinds, ","), "comma-separated fault kinds to inject")
	statsEvery := flag.Duration("stats-every", time.Minute, "how often to print the ingester's resources (goroutines, heap, sessions, fds)")
	flag.DurationVar(&s.settle, "settle", 5*time.Second, "how long the ingester idles after catching up before its resources are compared with those after its first faults")
	flag.Parse()
	for k := range strings.SplitSeq(*kinds, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if !slices.Contains(faultKinds, k) {
			fmt.Fprintf(os.Stderr, "soak: -faults: unknown kind %q (known: %s)\n", k, strings.Join(faultKinds, ", "))
			return 2
		}
		s.kinds = append(s.kinds, k)
	}
	if len(s.kinds) == 0 {
		fmt.Fprintln(os.Stderr, "soak: -faults: none")
		return 2
	}
	s.leaks = &leakRecorder{s: s, every: *statsEvery, sinceOf: map[int]int{}}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	s.rng = rand.New(rand.NewPCG(*seed, 0x50a4))
	fmt.Printf("soak: duration %s, a fault every ~%s, %d tx/s, seed %d, faults %s\n", s.duration, s.faultEvery, s.rate, *seed, strings.Join(s.kinds, ","))

	ok, err := s.run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", ingest.Redact(err.Error()))
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

func (s *soak) run() (bool, error) {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "txhistory-soak-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	if s.logFile, err = os.Create(filepath.Join(tmp, "child.log")); err != nil {
		return false, err
	}

	s.srv, err = pgtest.StartServer(ctx, pgtest.ServerOptions{})
	if err != nil {
		return false, fmt.Errorf("start PostgreSQL: %w", err)
	}
	defer s.srv.Close()
	faultyDB, err := s.newDB(ctx, "soak")
	if err != nil {
		return false, err
	}
	defer faultyDB.Close()
	s.dsn = s.srv.DSN("soak") + "&application_name=" + childAppName
	if s.leaks.monitor, err = sqlx.Open("postgres", s.srv.DSN("postgres")); err != nil {
		return false, err
	}
	defer s.leaks.monitor.Close()
	s.leaks.monitor.SetMaxOpenConns(1)
	s.leaks.path = filepath.Join(tmp, "stats.json")

	s.token = fmt.Sprintf("soak-token-%d", s.rng.Uint64())
	s.p, err = ledgertest.New(ledgertest.WithCheckpointInterval(50*time.Millisecond), ledgertest.WithToken(s.token))
	if err != nil {
		return false, err
	}
	defer s.p.Close()

	// The ingester reaches the participant through a proxy that the
	// participant-restart fault cuts.
	if s.proxy, err = newProxy(s.p.Addr()); err != nil {
		return false, err
	}
	defer s.proxy.Close()
	s.child = &supervisor{dsn: s.dsn, ledger: s.proxy.Addr(), token: s.token, log: s.logFile, stats: s.leaks.path}
	if err := s.child.start(); err != nil {
		return false, err
	}
	defer s.child.kill()

	// Append and inject faults for the duration.
	start := time.Now()
	s.leaks.start = start
	if _, err := s.leaks.take(ctx, true); err != nil {
		return false, err
	}
	stopAppend := make(chan struct{})
	var appender sync.WaitGroup
	var appendErr error
	appender.Go(func() { appendErr = s.appendLoop(stopAppend) })
	leakErr := s.faultLoop(start.Add(s.duration))
	close(stopAppend)
	appender.Wait()
	if appendErr != nil {
		return false, appendErr
	}
	end := s.p.LedgerEnd()
	fmt.Printf("soak: appending stopped after %s at ledger end %d; waiting for the ingester to catch up\n", time.Since(start).Round(time.Second), end)

	// Catch up, then stop the ingester gracefully.
	if err := s.child.ensureRunning(); err != nil {
		return false, err
	}
	caughtUp := time.Now()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		cp, err := readCheckpoint(ctx, faultyDB)
		if err == nil && cp.Offset == end {
			break
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("the ingester did not reach the ledger end %d within 5 minutes (checkpoint %d, %v); child log:\n%s", end, cp.Offset, err, s.child.tail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	catchUp := time.Since(caughtUp)
	// Let the caught-up ingester idle, then record what it holds.
	var settled []sample
	if leakErr == nil {
		time.Sleep(s.settle)
		for i := range 5 {
			if i > 0 {
				time.Sleep(time.Second)
			}
			smp, err := s.leaks.take(ctx, i == 4)
			if err != nil {
				leakErr = err
				break
			}
			settled = append(settled, smp)
		}
	}
	exit, err := s.child.terminate(30 * time.Second)
	if err != nil {
		return false, err
	}

	// The undisturbed run, into a database of its own.
	cleanDB, err := s.newDB(ctx, "clean")
	if err != nil {
		return false, err
	}
	defer cleanDB.Close()
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: s.p.Addr(), Insecure: true, Tokens: ledger.StaticToken(s.token)}})
	if err != nil {
		return false, err
	}
	defer client.Close()
	// It tails, like the ingester under faults, so that it too ends on the
	// OffsetCheckpoint at the ledger end (a bounded stream has none, and
	// would leave the per-synchronizer record time at the last treasury
	// transaction).
	cleanHandler, err := handlerChain(cleanDB)
	if err != nil {
		return false, err
	}
	ing, err := ingest.New(cleanDB, client, ingest.Config{Parties: []string{treasury}, Handler: cleanHandler, MaxBatchSize: 500,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return false, err
	}
	cleanStart := time.Now()
	cleanDone := make(chan error, 1)
	go func() { cleanDone <- ing.Run(ctx) }()
	for ing.Stats().Offset < end {
		select {
		case err := <-cleanDone:
			return false, fmt.Errorf("undisturbed run ended early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	ing.Stop()
	if err := <-cleanDone; err != nil {
		return false, fmt.Errorf("undisturbed run: %w", err)
	}
	cleanTook := time.Since(cleanStart)

	// Compare.
	want, err := readState(ctx, cleanDB)
	if err != nil {
		return false, err
	}
	got, err := readState(ctx, faultyDB)
	if err != nil {
		return false, err
	}
	var problems []string
	if n := int64(len(want.effects)); n != s.appended.Load() {
		problems = append(problems, fmt.Sprintf("the undisturbed run has %d effects, but %d treasury transactions were appended", n, s.appended.Load()))
	}
	if len(got.duplicates) > 0 {
		problems = append(problems, fmt.Sprintf("%d update ids applied more than once, e.g. %v", len(got.duplicates), got.duplicates[:min(5, len(got.duplicates))]))
	}
	if !slices.Equal(want.effects, got.effects) {
		problems = append(problems, fmt.Sprintf("effects differ: %d rows vs %d undisturbed; first difference: %s", len(got.effects), len(want.effects), firstDiff(want.effects, got.effects)))
	}
	if !slices.Equal(want.ingested, got.ingested) {
		problems = append(problems, fmt.Sprintf("dedup rows differ: %d rows vs %d undisturbed; first difference: %s", len(got.ingested), len(want.ingested), firstDiff(want.ingested, got.ingested)))
	}
	if !slices.Equal(want.syncTimes, got.syncTimes) {
		problems = append(problems, fmt.Sprintf("synchronizer_time differs: %v vs %v undisturbed", got.syncTimes, want.syncTimes))
	}
	if len(got.review) > 0 || len(want.review) > 0 {
		problems = append(problems, fmt.Sprintf("transactions set aside for review: %v (undisturbed: %v)", got.review, want.review))
	}
	if !slices.Equal(want.tokens, got.tokens) {
		problems = append(problems, fmt.Sprintf("token_history differs: %d rows vs %d undisturbed; first difference: %s", len(got.tokens), len(want.tokens), firstDiff(want.tokens, got.tokens)))
	}
	if !slices.Equal(want.withdrawals, got.withdrawals) {
		problems = append(problems, fmt.Sprintf("withdrawals differ: %d rows vs %d undisturbed; first difference: %s", len(got.withdrawals), len(want.withdrawals), firstDiff(want.withdrawals, got.withdrawals)))
	}
	if n := s.tokenTxs.Load(); int64(len(want.tokens)) < n {
		problems = append(problems, fmt.Sprintf("the undisturbed run has %d token_history rows for %d token standard transfers appended", len(want.tokens), n))
	}
	if !sameCheckpoint(want.cp, got.cp) {
		problems = append(problems, fmt.Sprintf("checkpoints differ: %+v vs %+v undisturbed", got.cp, want.cp))
	}
	if exit != 0 {
		problems = append(problems, fmt.Sprintf("the ingester exited %d on SIGTERM, want 0", exit))
	}
	if n := s.child.failures(); n > 0 {
		problems = append(problems, fmt.Sprintf("the ingester failed %d times on its own (not killed); see its log", n))
	}
	var leakReport []string
	if leakErr != nil {
		problems = append(problems, fmt.Sprintf("resources not recorded: %v", leakErr))
	} else {
		var leaks []string
		leakReport, leaks = s.leaks.check(settled)
		problems = append(problems, leaks...)
	}

	fmt.Println()
	fmt.Println("soak summary")
	fmt.Printf("  duration             %s of appending and faults, catch-up %s\n", s.duration, catchUp.Round(time.Millisecond))
	var total int
	for _, k := range slices.Sorted(maps.Keys(s.faults)) {
		fmt.Printf("  fault %-14s %d\n", k, s.faults[k])
		total += s.faults[k]
	}
	fmt.Printf("  faults total         %d\n", total)
	fmt.Printf("  ingester processes   %d (restarted after SIGKILL: %d)\n", s.child.started(), s.faults["sigkill"])
	fmt.Printf("  ledger end           %d\n", end)
	fmt.Printf("  transactions         %d appended for the treasury, %d ingested under faults, %d in the undisturbed run (%s)\n",
		s.appended.Load(), len(got.effects), len(want.effects), cleanTook.Round(time.Millisecond))
	fmt.Printf("  token standard       %d transfers appended, %d token_history rows, %d withdrawals (undisturbed: %d, %d)\n",
		s.tokenTxs.Load(), len(got.tokens), len(got.withdrawals), len(want.tokens), len(want.withdrawals))
	fmt.Printf("  checkpoint           offset %d, update %s (undisturbed: offset %d, update %s)\n", got.cp.Offset, got.cp.UpdateID, want.cp.Offset, want.cp.UpdateID)
	fmt.Printf("  duplicates           %d\n", len(got.duplicates))
	for _, l := range leakReport {
		fmt.Printf("  resources            %s\n", l)
	}
	if len(problems) == 0 {
		fmt.Println("  result               OK: the database equals the undisturbed run")
		return true, nil
	}
	fmt.Println("  result               MISMATCH")
	for _, p := range problems {
		fmt.Println("   -", p)
	}
	fmt.Println("child log (end):")
	fmt.Println(s.child.tail())
	return false, nil
}

func (s *soak) newDB(ctx context.Context, name string) (*sqlx.DB, error) {
	admin, err := sqlx.Open("postgres", s.srv.DSN("postgres"))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	db, err := sqlx.Open("postgres", s.srv.DSN(name))
	if err != nil {
		return nil, err
	}
	if err := schema.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := db.ExecContext(ctx, effectsDDL); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// appendLoop appends about rate transactions a second, in small batches,
// one in five for another party (offset gaps for the treasury) and two in
// five token standard transfers of the treasury (a ledgertest
// TransferHistory: deposits, and now and then a withdrawal).
func (s *soak) appendLoop(stop <-chan struct{}) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	n := 0
	transfers := ledgertest.TransferHistory{Treasury: treasury}
	nextTransfer := 0
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		// As many as the rate asks for by now: a slow Append or a
		// dropped tick does not lower the rate.
		k := int(time.Since(start).Seconds()*float64(s.rate)) - n
		txs := make([]*ledger.Transaction, 0, max(k, 0))
		for range k {
			owner := treasury
			if n%5 == 4 {
				owner = other
			} else {
				s.appended.Add(1)
			}
			if n%5 == 1 || n%5 == 3 {
				txs = append(txs, transfers.Tx(nextTransfer))
				nextTransfer++
				s.tokenTxs.Add(1)
				n++
				continue
			}
			txs = append(txs, &ledger.Transaction{
				CommandID: fmt.Sprintf("soak-%d", n),
				Events: []ledger.Event{&ledger.CreatedEvent{
					ContractID: fmt.Sprintf("00soak%09d", n),
					TemplateID: ledger.MustParseIdentifier("#soak:Soak.Token:Holding"),
					CreateArguments: ledger.Record(nil,
						ledger.F("owner", ledger.Party(owner)),
						ledger.F("amount", ledger.Numeric(fmt.Sprintf("%d.0000000000", n%997))),
						ledger.F("memo", ledger.Text(strings.Repeat("m", n%300))),
					),
					WitnessParties: []string{owner},
					Signatories:    []string{owner},
				}},
			})
			n++
		}
		if len(txs) == 0 {
			continue
		}
		if _, err := s.p.Append(txs...); err != nil {
			return fmt.Errorf("append: %w", err)
		}
	}
}

var faultKinds = []string{"stream-drop", "unavailable", "token-expiry", "stall", "participant-restart", "pg-restart", "pg-terminate", "sigkill"}

// faultLoop injects a random fault every faultEvery (±50%) until the
// deadline. Each fault is over (the participant healthy, PostgreSQL up)
// before the next one. Before each, it records the ingester's resources;
// an error is that it could not.
func (s *soak) faultLoop(deadline time.Time) error {
	ctx := context.Background()
	var leakErr error
	for {
		wait := time.Duration(float64(s.faultEvery) * (0.5 + s.rng.Float64()))
		if time.Now().Add(wait).After(deadline) {
			time.Sleep(time.Until(deadline))
			return leakErr
		}
		time.Sleep(wait)
		if leakErr == nil {
			_, leakErr = s.leaks.take(ctx, false)
		}
		kind := s.kinds[s.rng.IntN(len(s.kinds))]
		s.faultsMu.Lock()
		s.faults[kind]++
		s.faultsMu.Unlock()
		detail := ""
		switch kind {
		case "stream-drop":
			n := 1 + s.rng.IntN(40)
			s.p.DropStreamsAfter(n)
			time.Sleep(time.Duration(100+s.rng.IntN(400)) * time.Millisecond)
			s.p.DropStreamsAfter(0)
			detail = fmt.Sprintf("after %d items", n)
		case "unavailable":
			n := 1 + s.rng.IntN(5)
			s.p.FailNext("GetUpdates", n, codes.Unavailable)
			detail = fmt.Sprintf("%d calls", n)
		case "token-expiry":
			s.p.ExpireTokenOnStreams()
		case "stall":
			d := stallTimeout + time.Duration(s.rng.IntN(1000))*time.Millisecond
			s.p.StallStreams(true)
			time.Sleep(d)
			s.p.StallStreams(false)
			detail = d.Round(time.Millisecond).String()
		case "participant-restart":
			// Every connection to the participant breaks, and new ones
			// are refused for a moment.
			down := time.Duration(100+s.rng.IntN(1900)) * time.Millisecond
			s.proxy.cut(true)
			time.Sleep(down)
			s.proxy.cut(false)
			detail = "down " + down.Round(time.Millisecond).String()
		case "pg-restart":
			down := time.Duration(200+s.rng.IntN(1800)) * time.Millisecond
			if err := s.srv.Stop(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "soak: stop PostgreSQL:", err)
			}
			time.Sleep(down)
			for err := s.srv.Start(ctx); err != nil; err = s.srv.Start(ctx) {
				fmt.Fprintln(os.Stderr, "soak: start PostgreSQL, retrying:", err)
				time.Sleep(time.Second)
			}
			detail = "down " + down.Round(time.Millisecond).String()
		case "pg-terminate":
			// The ingester's sessions end under it (pg_terminate_backend,
			// as an idle-session killer or a failover proxy does).
			var n int
			if err := s.leaks.monitor.GetContext(ctx, &n, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, childAppName); err != nil {
				fmt.Fprintln(os.Stderr, "soak: terminate the ingester's sessions:", err)
			}
			detail = fmt.Sprintf("%d sessions", n)
		case "sigkill":
			s.child.kill()
			time.Sleep(time.Duration(s.rng.IntN(500)) * time.Millisecond)
			if err := s.child.start(); err != nil {
				fmt.Fprintln(os.Stderr, "soak: restart the ingester:", err)
			}
		}
		if s.verbose {
			fmt.Printf("  %s fault %s %s (ledger end %d)\n", time.Now().Format("15:04:05.000"), kind, detail, s.p.LedgerEnd())
		}
	}
}

// supervisor runs the ingester child process.
type supervisor struct {
	dsn, ledger, token string
	stats              string // the file the child reports its resources in
	log                *os.File

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	killed  bool
	starts  int
	failed  int
	lastErr error
}

func (c *supervisor) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), childEnv+"=1", childDSNEnv+"="+c.dsn, childLedgerEnv+"="+c.ledger, childTokenEnv+"="+c.token, childStatsEnv+"="+c.stats)
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the ingester: %w", err)
	}
	c.cmd, c.done, c.killed = cmd, make(chan struct{}), false
	c.starts++
	done := c.done
	go func() {
		err := cmd.Wait()
		c.mu.Lock()
		if !c.killed && err != nil {
			c.failed++
			c.lastErr = err
			fmt.Fprintf(os.Stderr, "soak: the ingester exited on its own: %v\n", err)
		}
		c.mu.Unlock()
		close(done)
	}()
	return nil
}

// ensureRunning restarts the child if it exited on its own.
func (c *supervisor) ensureRunning() error {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	select {
	case <-done:
		return c.start()
	default:
		return nil
	}
}

func (c *supervisor) kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.killed = true
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// terminate sends SIGTERM and returns the exit status.
func (c *supervisor) terminate(timeout time.Duration) (int, error) {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return -1, err
	}
	select {
	case <-done:
	case <-time.After(timeout):
		c.kill()
		return -1, errors.New("the ingester did not stop within 30s of SIGTERM")
	}
	c.mu.Lock()
	c.killed = true // it is gone; the deferred kill need not wait
	c.mu.Unlock()
	return cmd.ProcessState.ExitCode(), nil
}

// pid is the process id of the current child.
func (c *supervisor) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

func (c *supervisor) started() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.starts
}

func (c *supervisor) failures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

func (c *supervisor) tail() string {
	b, err := os.ReadFile(c.log.Name())
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// Reading and comparing databases.

type dbState struct {
	effects     []string // update_id@offset@record time, in offset order
	duplicates  []string
	ingested    []string // the dedup rows: update id, offset, record time, synchronizer, by update id
	syncTimes   []string // synchronizer_time: synchronizer, record time, offset
	review      []string // review_transaction: update id, offset (none expected)
	tokens      []string // token_history, but for ids and wall-clock times
	withdrawals []string // withdrawal (all recovered), but for wall-clock times
	cp          checkpoint.Checkpoint
}

func readCheckpoint(ctx context.Context, db *sqlx.DB) (checkpoint.Checkpoint, error) {
	store, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		return checkpoint.Checkpoint{}, err
	}
	cp, _, err := store.Get(ctx, db)
	return cp, err
}

func readState(ctx context.Context, db *sqlx.DB) (dbState, error) {
	var s dbState
	if err := db.SelectContext(ctx, &s.effects, `SELECT update_id || '@' || ledger_offset || '@' || record_time::text FROM effects ORDER BY ledger_offset, update_id`); err != nil {
		return s, err
	}
	if err := db.SelectContext(ctx, &s.duplicates, `SELECT update_id FROM effects GROUP BY update_id HAVING count(*) > 1 ORDER BY 1`); err != nil {
		return s, err
	}
	// Every column ingestion writes, except the wall-clock ingested_at:
	// recovery reads the dedup rows' offsets and record times.
	for _, q := range []struct {
		dst   *[]string
		query string
	}{
		{&s.ingested, `SELECT concat_ws(' ', update_id, ledger_offset, record_time::text, synchronizer_id) FROM txhistory.ingested_update ORDER BY update_id`},
		{&s.syncTimes, `SELECT concat_ws(' ', synchronizer_id, record_time::text, ledger_offset) FROM txhistory.synchronizer_time ORDER BY synchronizer_id`},
		{&s.review, `SELECT concat_ws(' ', update_id, ledger_offset) FROM txhistory.review_transaction ORDER BY ledger_offset, update_id`},
		{&s.tokens, `SELECT concat_ws(' ', update_id, node_id, kind, ledger_offset, record_time::text, amount, transferred, fee, sender, receiver, account, withdrawal_id) FROM txhistory.token_history ORDER BY ledger_offset, node_id, kind, instrument_admin, instrument_id`},
		{&s.withdrawals, `SELECT concat_ws(' ', id, status, recovered, amount, receiver, update_id, ledger_offset, record_time::text, transferred, fee) FROM txhistory.withdrawal ORDER BY id`},
	} {
		if err := db.SelectContext(ctx, q.dst, q.query); err != nil {
			return s, err
		}
	}
	var err error
	s.cp, err = readCheckpoint(ctx, db)
	return s, err
}

func sameCheckpoint(a, b checkpoint.Checkpoint) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	if a.Offset != b.Offset || a.UpdateID != b.UpdateID || a.SynchronizerID != b.SynchronizerID || !a.RecordTime.Equal(b.RecordTime) {
		return false
	}
	if len(a.RecordTimes) != len(b.RecordTimes) {
		return false
	}
	for k, t := range a.RecordTimes {
		if !t.Equal(b.RecordTimes[k]) {
			return false
		}
	}
	return true
}

func firstDiff(want, got []string) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf("row %d: %s vs %s undisturbed", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("one is a prefix of the other (%d vs %d rows)", len(got), len(want))
}
