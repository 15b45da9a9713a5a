// Command bench measures txhistory's ingestion on this machine, in one run:
//
//   - e2e: a fake participant (in a child process, over loopback gRPC)
//     streams -n 1-step token transfers (ledgertest.TransferHistory: deposits
//     to the treasury and, every tenth, a withdrawal) to an Ingester with
//     the token standard History and the withdrawal Reconciler, into
//     PostgreSQL;
//   - ceiling: the same stream received and decoded, nothing written;
//   - e2e with the History handler alone, to tell the two handlers' costs
//     apart;
//   - ceiling_again: the ceiling measured a second time, after the e2e
//     phases, to show its spread within the run (the targets use the
//     first);
//   - with -requested, e2e again with every withdrawal requested beforehand
//     (the Reconciler's usual path; in the other phases each withdrawal is
//     unknown and stored as recovered);
//   - naive: the same work for the first -naive-n transactions, one SQL
//     transaction and one statement per row per ledger transaction;
//   - memory: this process's peak RSS and Go heap while it ingests -mem-n
//     transactions, at every tenth of them (the fake runs in its
//     own process, so only the ingester counts);
//   - tail: a tailing Ingester with default settings while the fake appends
//     -tail-rate transactions per second: append → commit, p50 and p99.
//
// Usage:
//
//	go run ./examples/bench                 # the full run (a few minutes)
//	go run ./examples/bench -quick          # small counts, under a minute
//	go run ./examples/bench -json -n 500000 # ends with one line of JSON
//	go run ./examples/bench -dsn postgres://user@localhost/db
//	go run ./examples/bench -max-batch 1000 -stream-buffer 1024 # bigger batches in e2e and memory
//	go run ./examples/bench -phases memory -receive-window -1   # gRPC's dynamic window
//
// Without -dsn it starts a throwaway PostgreSQL from the installed server
// binaries (pgtest.StartServer) with its crash-safety settings on (fsync,
// synchronous_commit, full_page_writes: -durable=false turns them off). Each
// phase works in its own schema, dropped afterwards. BENCHMARKS.md has the
// figures of a run and what they mean.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
)

func main() {
	if js := os.Getenv(childEnv); js != "" {
		if err := runChild(js); err != nil {
			fmt.Fprintln(os.Stderr, "bench fake participant:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	o.register(flag.CommandLine)
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.quick(set)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", ingest.Redact(err.Error()))
		os.Exit(1)
	}
	if o.JSON {
		js, _ := json.Marshal(res)
		fmt.Println(string(js))
	}
}

// options are the command line flags.
type options struct {
	N, MemN, NaiveN int
	TailRate        int
	TailFor         time.Duration
	// TailFakeProcs is the fake's GOMAXPROCS in the tail phase; 0 leaves
	// Go's default (every CPU).
	TailFakeProcs int
	DSN           string
	Durable       bool
	JSON          bool
	Quick         bool
	Phases        string
	CPUProfile    string
	Trace         string
	CantonIDs     bool
	// MaxBatch, StreamBuffer and StreamBufferBytes, when positive, set the
	// Ingester's settings of those names in the e2e and memory phases
	// (never in the tail phase, which keeps the defaults).
	MaxBatch, StreamBuffer, StreamBufferBytes int
	// ReceiveWindow, when not zero, sets the ledger client's ReceiveWindow
	// (negative: gRPC's dynamic window) in every phase but the tail.
	ReceiveWindow int
	// Requested adds the e2e_requested phase to the throughput phases.
	Requested bool
}

func (o *options) register(fs *flag.FlagSet) {
	fs.IntVar(&o.N, "n", 200_000, "transactions for the e2e and ceiling phases")
	fs.IntVar(&o.MemN, "mem-n", 1_000_000, "transactions for the memory phase")
	fs.IntVar(&o.NaiveN, "naive-n", 0, "transactions for the naive baseline (default: n/40, at most 5,000)")
	fs.IntVar(&o.TailRate, "tail-rate", 1000, "transactions per second appended in the tail phase")
	fs.DurationVar(&o.TailFor, "tail-for", 30*time.Second, "how long the tail phase appends")
	fs.IntVar(&o.TailFakeProcs, "tail-fake-procs", 1, "the fake participant's GOMAXPROCS in the tail phase; 0: Go's default, every CPU")
	fs.StringVar(&o.DSN, "dsn", "", "PostgreSQL connection string; empty starts a local throwaway server")
	fs.BoolVar(&o.Durable, "durable", true, "local server: keep fsync and synchronous_commit on")
	fs.BoolVar(&o.CantonIDs, "canton-ids", false, "identifiers as long as a Canton participant's (update ids, contract ids, parties)")
	fs.IntVar(&o.MaxBatch, "max-batch", 0, "the Ingester's MaxBatchSize in the e2e and memory phases (default: the library's, ingest.MaxBatchSizeDefault)")
	fs.IntVar(&o.StreamBuffer, "stream-buffer", 0, "the Ingester's StreamBuffer in the e2e and memory phases (default: the library's, ingest.StreamBufferDefault)")
	fs.IntVar(&o.StreamBufferBytes, "stream-buffer-bytes", 0, "the Ingester's StreamBufferBytes in the e2e and memory phases (default: the library's, ingest.StreamBufferBytesDefault)")
	fs.BoolVar(&o.Requested, "requested", false, "throughput: also ingest the e2e ledger with every withdrawal requested beforehand (phase e2e_requested), the Reconciler's usual path")
	fs.IntVar(&o.ReceiveWindow, "receive-window", 0, "the ledger client's ReceiveWindow in bytes in every phase but the tail; negative: gRPC's dynamic window (default: the library's, ledger.DefaultReceiveWindow)")
	fs.BoolVar(&o.JSON, "json", false, "end with one line of JSON holding the results")
	fs.BoolVar(&o.Quick, "quick", false, "small counts (n 20,000, mem-n 50,000, tail 5s) for a run under a minute")
	fs.StringVar(&o.Phases, "phases", "memory,throughput,tail", "phases to run: memory, throughput (e2e, ceiling, naive), tail")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of this process during the e2e phase to this file")
	fs.StringVar(&o.Trace, "trace", "", "write an execution trace of this process during the e2e phase to this file (go tool trace)")
}

// quick scales down the counts the user did not set.
func (o *options) quick(set map[string]bool) {
	if !o.Quick {
		return
	}
	if !set["n"] {
		o.N = 20_000
	}
	if !set["mem-n"] {
		o.MemN = 50_000
	}
	if !set["tail-for"] {
		o.TailFor = 5 * time.Second
	}
}

// Result is the JSON line -json prints. The first six keys are the headline
// figures; the rest say how they were obtained.
type Result struct {
	E2ETxPerS     float64 `json:"e2e_tx_per_s"`
	CeilingTxPerS float64 `json:"ceiling_tx_per_s"`
	NaiveTxPerS   float64 `json:"naive_tx_per_s"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	TailP50MS     float64 `json:"tail_p50_ms"`
	TailP99MS     float64 `json:"tail_p99_ms"`
	// Phases are the phases run (-phases): a figure of a phase not run
	// reads 0, not measured.
	Phases []string `json:"phases"`

	HistoryOnlyTxPerS float64 `json:"e2e_history_only_tx_per_s"`
	// CeilingAgainTxPerS is the ceiling measured a second time, after the
	// e2e and e2e_history_only phases; the targets use CeilingTxPerS.
	CeilingAgainTxPerS float64 `json:"ceiling_again_tx_per_s"`
	// RequestedTxPerS is the e2e_requested phase's (-requested).
	RequestedTxPerS float64 `json:"e2e_requested_tx_per_s,omitempty"`
	// CPU is the CPU time per transaction of each process of the chain in
	// the throughput phases, by phase.
	CPU map[string]perTx `json:"cpu_per_tx,omitempty"`

	N          int        `json:"n"`
	NaiveN     int        `json:"naive_n"`
	MemN       int        `json:"mem_n"`
	PeakHeapMB float64    `json:"peak_heap_mb"`
	Memory     []memPoint `json:"memory,omitempty"`
	MemTxPerS  float64    `json:"memory_phase_tx_per_s"`
	TailRate   int        `json:"tail_rate"`
	TailN      int        `json:"tail_n"`
	TailMaxMS  float64    `json:"tail_max_ms"`
	// The tail's latencies from the scheduled append times, which count the
	// delays of the fake's ticks on the CPUs it shares with the ingester.
	TailSchedP50MS float64 `json:"tail_scheduled_p50_ms"`
	TailSchedP99MS float64 `json:"tail_scheduled_p99_ms"`
	TailSchedMaxMS float64 `json:"tail_scheduled_max_ms"`
	// TailFakeProcs is the fake's GOMAXPROCS in the tail phase (0: every CPU).
	TailFakeProcs int    `json:"tail_fake_procs"`
	Handlers      string `json:"handlers"`
	Durable       bool   `json:"durable"`
	CantonIDs     bool   `json:"canton_ids"`
	// MaxBatch, StreamBuffer and StreamBufferBytes are the Ingester's
	// settings in the e2e and memory phases.
	MaxBatch          int `json:"max_batch_size"`
	StreamBuffer      int `json:"stream_buffer"`
	StreamBufferBytes int `json:"stream_buffer_bytes"`
	// ReceiveWindow is the ledger client's in every phase but the tail,
	// -1 for gRPC's dynamic window.
	ReceiveWindow int     `json:"receive_window"`
	E2EBatches    int64   `json:"e2e_batches"`
	CPUs          int     `json:"cpus"`
	GoVersion     string  `json:"go"`
	ElapsedSecs   float64 `json:"elapsed_s"`
}

// allPhases are the phases -phases may name.
var allPhases = []string{"memory", "throughput", "tail"}

// validate refuses unknown phases, and counts that leave a phase to run
// nothing to measure.
func (o options) validate(phases []string) error {
	for _, p := range phases {
		if !slices.Contains(allPhases, p) {
			return fmt.Errorf("-phases: unknown phase %q (the phases: %s, separated by commas)", p, strings.Join(allPhases, ","))
		}
	}
	switch {
	case slices.Contains(phases, "throughput") && o.N < 1:
		return fmt.Errorf("-n %d: the throughput phases need at least one transaction", o.N)
	case slices.Contains(phases, "memory") && o.MemN < 1:
		return fmt.Errorf("-mem-n %d: the memory phase needs at least one transaction", o.MemN)
	case slices.Contains(phases, "tail") && (o.TailRate < 1 || o.TailRate > int(time.Second)):
		return fmt.Errorf("-tail-rate %d: from 1 to 1,000,000,000 transactions per second", o.TailRate)
	case slices.Contains(phases, "tail") && o.TailFor <= 0:
		return fmt.Errorf("-tail-for %s: the tail phase needs a positive duration", o.TailFor)
	}
	return nil
}

func run(ctx context.Context, o options, stdout io.Writer) (*Result, error) {
	if o.NaiveN <= 0 {
		o.NaiveN = min(max(o.N/40, 1), 5_000)
	}
	o.NaiveN = min(o.NaiveN, o.N)
	phases := strings.Split(o.Phases, ",")
	if err := o.validate(phases); err != nil {
		return nil, err
	}
	began := time.Now()
	treasury := "treasury::1220bench"
	if o.CantonIDs {
		treasury = ledgertest.CantonID("treasury::1220", treasury)
	}
	res := &Result{Phases: phases, N: o.N, NaiveN: o.NaiveN, MemN: o.MemN, TailRate: o.TailRate, TailFakeProcs: o.TailFakeProcs, Handlers: handlerNames,
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), CantonIDs: o.CantonIDs,
		MaxBatch: ingest.MaxBatchSizeDefault, StreamBuffer: ingest.StreamBufferDefault, StreamBufferBytes: ingest.StreamBufferBytesDefault}
	if o.MaxBatch > 0 {
		res.MaxBatch = o.MaxBatch
	}
	if o.StreamBuffer > 0 {
		res.StreamBuffer = o.StreamBuffer
	}
	if o.StreamBufferBytes > 0 {
		res.StreamBufferBytes = o.StreamBufferBytes
	}
	res.ReceiveWindow = ledger.DefaultReceiveWindow
	switch {
	case o.ReceiveWindow < 0:
		res.ReceiveWindow = -1
	case o.ReceiveWindow > 0:
		res.ReceiveWindow = o.ReceiveWindow
	}
	b := &bench{treasury: treasury, history: ledgertest.TransferHistory{Treasury: treasury, CantonIDs: o.CantonIDs},
		logger: quietLogger(), progress: stdout,
		maxBatch: res.MaxBatch, streamBuffer: res.StreamBuffer, streamBufferBytes: res.StreamBufferBytes,
		receiveWindow: res.ReceiveWindow}
	b.logf("txhistory bench: %d CPUs, %s, handlers: %s", res.CPUs, res.GoVersion, handlerNames)
	b.logf("Ingester in the e2e and memory phases: MaxBatchSize %d, StreamBuffer %d, StreamBufferBytes %d (the tail phase: the defaults)",
		res.MaxBatch, res.StreamBuffer, res.StreamBufferBytes)
	if res.ReceiveWindow < 0 {
		b.logf("Ledger client in every phase but the tail: gRPC's dynamic receive window")
	} else {
		b.logf("Ledger client in every phase but the tail: ReceiveWindow %d", res.ReceiveWindow)
	}

	dsn := o.DSN
	if dsn == "" {
		srv, err := pgtest.StartServer(ctx, pgtest.ServerOptions{Durable: o.Durable})
		if err != nil {
			return nil, fmt.Errorf("start a local PostgreSQL (install the server binaries or pass -dsn): %w", err)
		}
		defer srv.Close()
		dsn = srv.DSN("postgres")
		res.Durable = o.Durable
		b.pgPID = postmasterPID(srv.Dir())
		b.logf("PostgreSQL: local throwaway server on port %d, durable (fsync, synchronous_commit): %v", srv.Port(), o.Durable)
	} else {
		b.logf("PostgreSQL: -dsn (its own settings)")
	}
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	b.db = db

	// The memory phase runs first, in a process that has done nothing else.
	if slices.Contains(phases, "memory") {
		b.logf("memory: the fake encodes %d transactions once, compressed, and serves them from its cache", o.MemN)
		f, err := startFake(ctx, childConfig{Treasury: treasury, N: o.MemN, Cache: true, Compress: true, Warm: true, CantonIDs: o.CantonIDs})
		if err != nil {
			return nil, err
		}
		points, rate, err := b.memory(f.ctx, f)
		if err != nil {
			return nil, phaseErr("memory", err, f)
		}
		f.Close()
		res.Memory, res.MemTxPerS = points, rate
		for _, p := range points {
			res.PeakRSSMB, res.PeakHeapMB = max(res.PeakRSSMB, p.PeakRSSMB), max(res.PeakHeapMB, p.PeakHeapMB)
		}
	}

	if slices.Contains(phases, "throughput") {
		b.logf("throughput: the fake encodes %d transactions once and serves them from its cache", o.N)
		f, err := startFake(ctx, childConfig{Treasury: treasury, N: o.N, Cache: true, Warm: true, CantonIDs: o.CantonIDs})
		if err != nil {
			return nil, err
		}
		if err := b.throughput(f.ctx, f, o, res); err != nil {
			return nil, phaseErr("throughput", err, f)
		}
		f.Close()
	}

	if slices.Contains(phases, "tail") {
		b.logf("tail: the fake appends %d tx/s for %s to a tailing ingester with default settings (the fake's GOMAXPROCS: %s)", o.TailRate, o.TailFor, procsName(o.TailFakeProcs))
		f, err := startFake(ctx, childConfig{Treasury: treasury, CantonIDs: o.CantonIDs, Procs: o.TailFakeProcs})
		if err != nil {
			return nil, err
		}
		r, err := b.tail(f.ctx, f, o.TailRate, o.TailFor)
		if err != nil {
			return nil, phaseErr("tail", err, f)
		}
		f.Close()
		res.TailN, res.TailP50MS, res.TailP99MS, res.TailMaxMS = r.N, ms(r.P50), ms(r.P99), ms(r.Max)
		res.TailSchedP50MS, res.TailSchedP99MS, res.TailSchedMaxMS = ms(r.SchedP50), ms(r.SchedP99), ms(r.SchedMax)
	}
	res.CPU = b.cpu
	res.ElapsedSecs = time.Since(began).Seconds()
	summary(b, res, phases)
	return res, nil
}

// throughput runs the ceiling, e2e and naive phases against one fake.
func (b *bench) throughput(ctx context.Context, f *fake, o options, res *Result) error {
	var err error
	if res.CeilingTxPerS, err = b.ceiling(ctx, f, "ceiling"); err != nil {
		return err
	}
	stopProfile, err := startProfiles(o.CPUProfile, o.Trace)
	if err != nil {
		return err
	}
	res.E2ETxPerS, err = b.ingestAll(ctx, f, "e2e", false, nil)
	res.E2EBatches = b.batches["e2e"]
	stopProfile()
	if err != nil {
		return err
	}
	if res.HistoryOnlyTxPerS, err = b.ingestAll(ctx, f, "e2e_history_only", true, nil); err != nil {
		return err
	}
	// The ceiling is the noisiest figure on a shared machine; measured
	// again, its spread within the run is there to see. The targets use
	// the first measurement.
	if res.CeilingAgainTxPerS, err = b.ceiling(ctx, f, "ceiling_again"); err != nil {
		return err
	}
	if o.Requested {
		if res.RequestedTxPerS, err = b.ingestRequested(ctx, f, "e2e_requested", false, nil, true); err != nil {
			return err
		}
	}
	res.NaiveTxPerS, err = b.naive(ctx, f, int64(o.NaiveN))
	return err
}

// startProfiles starts a CPU profile and an execution trace of this
// process into the files named (either may be empty) and returns what
// stops them.
func startProfiles(cpuFile, traceFile string) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
	for _, p := range []struct {
		file  string
		start func(io.Writer) error
		end   func()
	}{
		{cpuFile, pprof.StartCPUProfile, pprof.StopCPUProfile},
		{traceFile, trace.Start, trace.Stop},
	} {
		if p.file == "" {
			continue
		}
		f, err := os.Create(p.file)
		if err == nil {
			if err = p.start(f); err != nil {
				err = errors.Join(err, f.Close())
			}
		}
		if err != nil {
			stop()
			return nil, err
		}
		stops = append(stops, func() { p.end(); f.Close() })
	}
	return stop, nil
}

// windowMean is the mean of the interval peaks of RSS of points[from:from+3]
// (fewer where there are fewer).
func windowMean(points []memPoint, from int) float64 {
	from = max(from, 0)
	to := min(from+3, len(points))
	if to <= from {
		return 0
	}
	var sum float64
	for _, p := range points[from:to] {
		sum += p.IntervalPeakRSSMB
	}
	return sum / float64(to-from)
}

// windowRate is the transactions committed per second from the point
// before points[from] (the start for the first) to points[from+2] (or the
// last point).
func windowRate(points []memPoint, from int) float64 {
	from = max(from, 0)
	to := min(from+3, len(points)) - 1
	if to < from {
		return 0
	}
	var n0 int64
	var t0 float64
	if from > 0 {
		n0, t0 = points[from-1].Transactions, points[from-1].ElapsedS
	}
	if d := points[to].ElapsedS - t0; d > 0 {
		return float64(points[to].Transactions-n0) / d
	}
	return 0
}

// flatRSS is the memory target's "flat from 100k to 1M" over the points
// of the memory phase (one a tenth): the peak at the end at most 1.25 × the
// peak over the first tenth + 10 MB, and the peaks of the last three
// tenths on average at most 10% (+ 1 MB) above those of the three tenths
// after the first. The first rule alone lets the RSS climb steadily by a
// third over the run; the second compares windows of equal length past the
// first tenth's start-up, so a climb from tenth to tenth fails it.
func flatRSS(points []memPoint) bool {
	if len(points) == 0 {
		return false
	}
	first, last := points[0], points[len(points)-1]
	after := min(1, len(points)-1) // the first tenth itself if it is the only one
	return last.PeakRSSMB <= first.PeakRSSMB*1.25+10 &&
		windowMean(points, len(points)-3) <= windowMean(points, after)*1.10+1
}

// summary prints the figures against the targets of issue 7.
func summary(b *bench, r *Result, phases []string) {
	b.logf("")
	b.logf("summary (%s, %.0fs):", map[bool]string{true: "durable PostgreSQL", false: "PostgreSQL"}[r.Durable], r.ElapsedSecs)
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	if slices.Contains(phases, "throughput") {
		b.logf("  e2e      %8.0f tx/s  (%d transactions)        target ≥ 20,000 tx/s: %s", r.E2ETxPerS, r.N, check(r.E2ETxPerS >= 20_000))
		b.logf("  ceiling  %8.0f tx/s  e2e/ceiling = %.1f%%      target ≥ 50%%: %s", r.CeilingTxPerS, 100*r.E2ETxPerS/r.CeilingTxPerS, check(r.E2ETxPerS >= r.CeilingTxPerS/2))
		b.logf("  (History alone %.0f tx/s: %.0f%% of the ceiling)", r.HistoryOnlyTxPerS, 100*r.HistoryOnlyTxPerS/r.CeilingTxPerS)
		b.logf("  (the ceiling measured again after them: %.0f tx/s, e2e %.0f%% of it)", r.CeilingAgainTxPerS, 100*r.E2ETxPerS/r.CeilingAgainTxPerS)
		if r.RequestedTxPerS > 0 {
			b.logf("  (withdrawals requested beforehand %.0f tx/s: %.0f%% of the ceiling)", r.RequestedTxPerS, 100*r.RequestedTxPerS/r.CeilingTxPerS)
		}
		b.logf("  naive    %8.0f tx/s  e2e/naive = %.1f×         target ≥ 10×: %s", r.NaiveTxPerS, r.E2ETxPerS/r.NaiveTxPerS, check(r.E2ETxPerS >= 10*r.NaiveTxPerS))
	}
	if slices.Contains(phases, "memory") && len(r.Memory) > 0 {
		first, last := r.Memory[0], r.Memory[len(r.Memory)-1]
		flat := flatRSS(r.Memory)
		b.logf("  memory   peak RSS %.1f MB, peak Go heap %.0f MB over %d transactions   target ≤ 150 MB: %s",
			r.PeakRSSMB, r.PeakHeapMB, r.MemN, check(r.PeakRSSMB <= 150))
		b.logf("           peak RSS %.0f MB at %d → %.0f MB at %d                  target flat: %s",
			first.PeakRSSMB, first.Transactions, last.PeakRSSMB, last.Transactions, check(flat))
		var iv []string
		prev := int64(0)
		for _, p := range r.Memory {
			iv = append(iv, fmt.Sprintf("%d–%d: %.0f MB", prev, p.Transactions, p.IntervalPeakRSSMB))
			prev = p.Transactions
		}
		b.logf("           peak RSS per interval: %s", strings.Join(iv, ", "))
		b.logf("           the last three intervals' peaks average %.0f MB, the first three's %.0f MB, the three after the first's %.0f MB",
			windowMean(r.Memory, len(r.Memory)-3), windowMean(r.Memory, 0), windowMean(r.Memory, 1))
		if firstRate := windowRate(r.Memory, 0); firstRate > 0 {
			lastRate := windowRate(r.Memory, len(r.Memory)-3)
			b.logf("           throughput: %.0f tx/s over the last three intervals, %.0f tx/s over the first three (%.2f of it)",
				lastRate, firstRate, lastRate/firstRate)
		}
	}
	if slices.Contains(phases, "tail") {
		b.logf("  tail     p50 %.1f ms, p99 %.1f ms at %d tx/s                     target p99 ≤ 50 ms: %s",
			r.TailP50MS, r.TailP99MS, r.TailRate, check(r.TailP99MS <= 50))
		b.logf("           from the scheduled append: p50 %.1f ms, p99 %.1f ms         target p99 ≤ 50 ms: %s",
			r.TailSchedP50MS, r.TailSchedP99MS, check(r.TailSchedP99MS <= 50))
	}
}
