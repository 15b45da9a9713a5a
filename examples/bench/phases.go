package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// bench holds what every phase needs.
type bench struct {
	db       *sqlx.DB
	treasury string
	history  ledgertest.TransferHistory // the ledger the fake serves, but for its length
	logger   *slog.Logger
	progress io.Writer
	schemas  int
	pgPID    int              // the local server's postmaster, 0 with -dsn
	cpu      map[string]perTx // CPU time per transaction, by phase
	// the Ingester's settings in ingestAll (the e2e and memory phases)
	maxBatch, streamBuffer, streamBufferBytes int
	receiveWindow                             int              // the ledger client's, but in the tail phase
	batches                                   map[string]int64 // batches committed, by phase
	// keepSchemas leaves each phase's schema in place (tests compare them);
	// kept lists them.
	keepSchemas bool
	kept        []string
}

// measureCPU samples the CPU time of the chain's processes before and after
// a phase of n transactions and records it per transaction.
func (b *bench) measureCPU(phase string, f *fake, n int64, run func() error) error {
	fakePID := 0
	if f.cmd.Process != nil {
		fakePID = f.cmd.Process.Pid
	}
	before := sampleCPU(fakePID, b.pgPID)
	if err := run(); err != nil {
		return err
	}
	c := cpuPerTx(before, sampleCPU(fakePID, b.pgPID), n)
	if b.cpu == nil {
		b.cpu = map[string]perTx{}
	}
	b.cpu[phase] = c
	return nil
}

// logCPU prints what measureCPU recorded for phase.
func (b *bench) logCPU(phase string) {
	c := b.cpu[phase]
	pg := "unknown (-dsn)"
	if b.pgPID > 0 {
		pg = fmt.Sprintf("%.0f µs", c.Postgres)
	}
	b.logf("    CPU per transaction: ingester %.0f µs, PostgreSQL %s, fake %.0f µs; the whole machine %.0f µs (all processes)",
		c.Ingester, pg, c.Fake, c.Machine)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, format+"\n", args...)
}

// freshSchema migrates a new schema for one phase and returns its name and
// a function that drops it.
func (b *bench) freshSchema(ctx context.Context, phase string) (string, func(), error) {
	b.schemas++
	name := fmt.Sprintf("bench_%s_%d_%d", phase, os.Getpid(), b.schemas)
	if err := schema.Migrate(ctx, b.db, schema.WithSchema(name)); err != nil {
		return "", nil, err
	}
	drop := func() {
		if b.keepSchemas {
			b.kept = append(b.kept, name)
			return
		}
		if _, err := b.db.Exec(`DROP SCHEMA ` + name + ` CASCADE`); err != nil {
			b.logger.Warn("bench: drop schema", "schema", name, "err", err)
		}
	}
	return name, drop, nil
}

// handlerChain is the end-to-end handler chain, as examples/ingestd runs
// it: the token standard history, then the withdrawal reconciler, which
// reads the history entries of the same batch. No withdrawal is requested
// beforehand, so each withdrawal of the history takes the reconciler's
// recovery path (RecoverFromLedger: a withdrawal stored as recovered); its
// warning per withdrawal is not logged.
func handlerChain(db *sqlx.DB, schemaName, treasury string) (ingest.Handler, error) {
	hist, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Schema: schemaName})
	if err != nil {
		return nil, err
	}
	rec, err := reconciler(db, schemaName, treasury, hist)
	if err != nil {
		return nil, err
	}
	return ingest.Handlers(hist, rec), nil
}

// reconciler returns the withdrawal Reconciler, taking the entries from
// hist (the History handler of the chain, or the naive baseline's entries).
func reconciler(db *sqlx.DB, schemaName, treasury string, hist withdrawal.WrittenEntries) (*withdrawal.Reconciler, error) {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	store, err := withdrawal.NewStore(db, withdrawal.Config{Schema: schemaName, Treasury: treasury, Logger: quiet})
	if err != nil {
		return nil, err
	}
	cfg := withdrawal.ReconcilerConfig{Logger: quiet, History: hist}
	return withdrawal.NewReconciler(store, cfg)
}

// handlerNames names handlerChain's handlers.
const handlerNames = "tokenstd.History + withdrawal.Reconciler"

// dial connects to the fake with the given receive window (0: the
// library's default, which the tail phase keeps).
func dial(addr string, receiveWindow int) (*ledger.Client, error) {
	return ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: addr, Insecure: true}, ReceiveWindow: receiveWindow})
}

// drain reads the stream (begin, end] as the ingester's reader does
// (received and decoded into ledger types) and counts its transactions.
func drain(ctx context.Context, c *ledger.Client, treasury string, begin, end int64) (int, error) {
	st, err := c.Updates(ctx, ledger.UpdatesRequest{BeginExclusive: begin, EndInclusive: end, Filter: ledger.Filter{Parties: []string{treasury}}})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	n := 0
	for {
		u, err := st.Recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if u.Kind == ledger.UpdateTransaction {
			n++
		}
	}
}

// ceiling measures the stream alone: the fake's ledger received and decoded,
// nothing written. phase names it: "ceiling", or "ceiling_again" for the
// second measurement after the e2e phases.
func (b *bench) ceiling(ctx context.Context, f *fake, phase string) (float64, error) {
	c, err := dial(f.Addr, b.receiveWindow)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var rate float64
	err = b.measureCPU(phase, f, f.End, func() error {
		start := time.Now()
		n, err := drain(ctx, c, b.treasury, 0, f.End)
		if err != nil {
			return err
		}
		rate = float64(n) / time.Since(start).Seconds()
		b.logf("  %s: %d transactions received and decoded in %s: %.0f tx/s", phase, n, time.Since(start).Round(time.Millisecond), rate)
		return nil
	})
	if err != nil {
		return 0, err
	}
	b.logCPU(phase)
	return rate, nil
}

// ingestAll runs an Ingester with the handler chain (or, with historyOnly,
// the History handler alone) over the fake's whole ledger into a fresh
// schema and returns its rate. onCommit, if set, sees every commit.
func (b *bench) ingestAll(ctx context.Context, f *fake, phase string, historyOnly bool, onCommit func(ingest.Stats)) (float64, error) {
	return b.ingestRequested(ctx, f, phase, historyOnly, onCommit, false)
}

// ingestRequested is ingestAll with, if requested, a request stored for
// every withdrawal before the Ingester starts (seedRequests); the phase
// then also checks that each was completed as requested (checkRequested).
func (b *bench) ingestRequested(ctx context.Context, f *fake, phase string, historyOnly bool, onCommit func(ingest.Stats),
	requested bool) (float64, error) {
	c, err := dial(f.Addr, b.receiveWindow)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	name, drop, err := b.freshSchema(ctx, phase)
	if err != nil {
		return 0, err
	}
	defer drop()
	if requested {
		if err := b.seedRequests(ctx, name, f.End); err != nil {
			return 0, fmt.Errorf("%s: %w", phase, err)
		}
	}
	var h ingest.Handler
	if historyOnly {
		h, err = tokenstd.NewHistory(tokenstd.Config{Treasury: b.treasury, Schema: name})
	} else {
		h, err = handlerChain(b.db, name, b.treasury)
	}
	if err != nil {
		return 0, err
	}
	ing, err := ingest.New(b.db, c, ingest.Config{Parties: []string{b.treasury}, Schema: name, Handler: h, EndOffset: f.End,
		MaxBatchSize: b.maxBatch, StreamBuffer: b.streamBuffer, StreamBufferBytes: b.streamBufferBytes, Logger: b.logger, OnCommit: onCommit})
	if err != nil {
		return 0, err
	}
	var elapsed time.Duration
	err = b.measureCPU(phase, f, f.End, func() error {
		start := time.Now()
		err := ing.Run(ctx)
		elapsed = time.Since(start)
		return err
	})
	if err != nil {
		return 0, err
	}
	s := ing.Stats()
	if s.Transactions != f.End {
		return 0, fmt.Errorf("%s: ingested %d transactions, want %d", phase, s.Transactions, f.End)
	}
	if err := checkHistory(ctx, b.db, name, f.End, !historyOnly); err != nil {
		return 0, err
	}
	if requested {
		if err := checkRequested(ctx, b.db, name); err != nil {
			return 0, fmt.Errorf("%s: %w", phase, err)
		}
	}
	if b.batches == nil {
		b.batches = map[string]int64{}
	}
	b.batches[phase] = s.Batches
	rate := float64(s.Transactions) / elapsed.Seconds()
	b.logf("  %s: %d transactions in %d batches in %s: %.0f tx/s", phase, s.Transactions, s.Batches, elapsed.Round(time.Millisecond), rate)
	b.logCPU(phase)
	return rate, nil
}

// checkHistory makes sure the handlers did their work on the first n
// transactions of the TransferHistory: one history entry for each
// transaction (each is a deposit or a withdrawal), each transaction's
// dedup row and, if the reconciler ran, one withdrawal record per
// withdrawal.
func checkHistory(ctx context.Context, db *sqlx.DB, schemaName string, n int64, reconciled bool) error {
	var c struct {
		Entries      int64 `db:"entries"`
		Transactions int64 `db:"transactions"`
		Ingested     int64 `db:"ingested"`
		Withdrawals  int64 `db:"withdrawals"`
	}
	q := func(table string) string { return schema.Qualify(schemaName, table) }
	err := db.GetContext(ctx, &c, `SELECT (SELECT count(*) FROM `+q(tokenstd.HistoryTable)+`) AS entries,
			(SELECT count(DISTINCT update_id) FROM `+q(tokenstd.HistoryTable)+`) AS transactions,
			(SELECT count(*) FROM `+q("ingested_update")+`) AS ingested,
			(SELECT count(*) FROM `+q(withdrawal.Table)+`) AS withdrawals`)
	if err != nil {
		return err
	}
	h := ledgertest.TransferHistory{}
	var want int64
	for i := range n {
		if reconciled && h.IsWithdrawal(int(i)) {
			want++
		}
	}
	if c.Entries != n || c.Transactions != n || c.Ingested != n || c.Withdrawals != want {
		return fmt.Errorf("schema %s holds %d history entries of %d transactions, %d ingested transactions and %d withdrawals, want %d, %d, %d and %d",
			schemaName, c.Entries, c.Transactions, c.Ingested, c.Withdrawals, n, n, n, want)
	}
	return nil
}

// seedRequests stores, in schemaName, a withdrawal request for each
// withdrawal among the first n transactions of the fake's ledger, as an
// exchange would have before submitting the transfers: status requested,
// the holding the transfer spends reserved, a target record time far
// ahead. It writes the rows itself, because withdrawal.Store.Create checks
// that the reserved holding is a live treasury holding, and the holding is
// not ingested yet.
func (b *bench) seedRequests(ctx context.Context, schemaName string, n int64) error {
	var ids, admins, instruments, receivers, inputs, amounts []string
	for i := range int(n) {
		wd, ok := b.history.Withdrawal(i)
		if !ok {
			continue
		}
		ids, admins, instruments = append(ids, wd.ID), append(admins, wd.Instrument.Admin), append(instruments, wd.Instrument.ID)
		receivers, inputs, amounts = append(receivers, wd.Receiver), append(inputs, wd.Input), append(amounts, wd.Amount)
	}
	q := func(table string) string { return schema.Qualify(schemaName, table) }
	_, err := b.db.ExecContext(ctx, `WITH w AS (
			INSERT INTO `+q(withdrawal.Table)+` (id, user_account, amount, instrument_admin, instrument_id, receiver,
				reserved_holdings, reserved_funds, trec_tgt, status)
			SELECT id, 'bench', amount::numeric, admin, inst, receiver, ARRAY[input], amount::numeric + $7::numeric, $8, 'requested'
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS r(id, admin, inst, receiver, input, amount)
			RETURNING id, reserved_holdings[1] AS input)
		INSERT INTO `+q("withdrawal_reservation")+` (contract_id, withdrawal_id) SELECT input, id FROM w`,
		pq.Array(ids), pq.Array(admins), pq.Array(instruments), pq.Array(receivers), pq.Array(inputs), pq.Array(amounts),
		ledgertest.WithdrawalFee, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return fmt.Errorf("requesting %d withdrawals: %w", len(ids), err)
	}
	return nil
}

// checkRequested makes sure that the withdrawals seedRequests stored were
// completed by the ledger's transfers, and that none was recovered.
func checkRequested(ctx context.Context, db *sqlx.DB, schemaName string) error {
	var r struct {
		All       int64 `db:"all"`
		Completed int64 `db:"completed"`
		Reserved  int64 `db:"reserved"`
	}
	err := db.GetContext(ctx, &r, `SELECT count(*) AS all,
			count(*) FILTER (WHERE status = 'completed' AND NOT recovered AND user_account = 'bench') AS completed,
			(SELECT count(*) FROM `+schema.Qualify(schemaName, "withdrawal_reservation")+`) AS reserved
		FROM `+schema.Qualify(schemaName, withdrawal.Table))
	if err != nil {
		return err
	}
	if r.Completed != r.All || r.Reserved != 0 {
		return fmt.Errorf("schema %s: %d of %d requested withdrawals completed, %d reservations left", schemaName, r.Completed, r.All, r.Reserved)
	}
	return nil
}

// memPoint is the memory at one point of the memory phase.
type memPoint struct {
	Transactions int64   `json:"transactions"`
	RSSMB        float64 `json:"rss_mb"`
	PeakRSSMB    float64 `json:"peak_rss_mb"`
	HeapMB       float64 `json:"heap_mb"`
	PeakHeapMB   float64 `json:"peak_heap_mb"`
	// The peaks since the previous point (since the start for the first).
	IntervalPeakRSSMB  float64 `json:"interval_peak_rss_mb"`
	IntervalPeakHeapMB float64 `json:"interval_peak_heap_mb"`
	// Seconds since the phase's Ingester started, and the transactions
	// committed since the previous point per second of wall time (0 when
	// one commit passed two points): whether a long catch-up slows as the
	// tables grow.
	ElapsedS       float64 `json:"elapsed_s"`
	IntervalTxPerS float64 `json:"interval_tx_per_s"`
}

// memory ingests the fake's whole ledger and samples this process's memory
// at every tenth of it: ten windows of equal length, so that a peak that
// rises from window to window shows growth, where the peaks of ever longer
// windows would rise by chance alone.
func (b *bench) memory(ctx context.Context, f *fake) ([]memPoint, float64, error) {
	runtime0 := resetPeakRSS()
	if !runtime0 {
		b.logf("  (cannot reset the kernel's peak RSS: peaks are sampled every 20ms)")
	}
	sampler := startMemSampler(20*time.Millisecond, runtime0)
	defer sampler.Stop()
	var marks []int64
	for tenth := int64(1); tenth <= 10; tenth++ {
		marks = append(marks, f.End*tenth/10)
	}
	var mu sync.Mutex
	var points []memPoint
	// The first interval's rate starts here, so it includes connecting and
	// the first batch's start: a few milliseconds of a tenth's seconds.
	start := time.Now()
	onCommit := func(s ingest.Stats) {
		mu.Lock()
		defer mu.Unlock()
		for len(points) < len(marks) && s.Transactions >= marks[len(points)] {
			elapsed := time.Since(start).Seconds()
			rss, _ := procStatus()
			heap := heapBytes()
			peakRSS, peakHeap, ivRSS, ivHeap := sampler.mark()
			p := memPoint{Transactions: s.Transactions, RSSMB: mb(rss), PeakRSSMB: mb(peakRSS),
				HeapMB: mb(heap), PeakHeapMB: mb(peakHeap), IntervalPeakRSSMB: mb(ivRSS), IntervalPeakHeapMB: mb(ivHeap),
				ElapsedS: elapsed}
			var prev memPoint // the start, for the first point
			if len(points) > 0 {
				prev = points[len(points)-1]
			}
			if d := p.ElapsedS - prev.ElapsedS; d > 0 && p.Transactions > prev.Transactions {
				p.IntervalTxPerS = float64(p.Transactions-prev.Transactions) / d
			}
			points = append(points, p)
		}
	}
	rate, err := b.ingestAll(ctx, f, "memory", false, onCommit)
	if err != nil {
		return nil, 0, err
	}
	for _, p := range points {
		b.logf("  at %8d transactions: RSS %6.1f MB (peak %6.1f MB, since the previous line %6.1f MB), Go heap %6.1f MB (peak %6.1f MB, since the previous line %6.1f MB), %6.0f tx/s since the previous line",
			p.Transactions, p.RSSMB, p.PeakRSSMB, p.IntervalPeakRSSMB, p.HeapMB, p.PeakHeapMB, p.IntervalPeakHeapMB, p.IntervalTxPerS)
	}
	return points, rate, nil
}

// latencyProbe measures, per transaction, the time from its append on the
// participant (its workflow id) to the commit of its batch. It is the first
// handler of the chain, to learn a batch's transactions, and hears of the
// commit through Config.OnCommit. A chain member rather than a wrapper, so
// that the Ingester still sees the handlers' Preparer and Reader.
type latencyProbe struct {
	mu      sync.Mutex
	pending []time.Time // append times of the batch being committed
	samples []time.Duration
	// the same from the scheduled append times
	schedPending []time.Time
	schedSamples []time.Duration
}

func (p *latencyProbe) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	p.mu.Lock()
	p.pending, p.schedPending = p.pending[:0], p.schedPending[:0] // a retried batch starts over
	for _, t := range b.Transactions {
		if at, due, ok := appendTime(t); ok {
			p.pending, p.schedPending = append(p.pending, at), append(p.schedPending, due)
		}
	}
	p.mu.Unlock()
	return nil
}

func (p *latencyProbe) committed(ingest.Stats) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, at := range p.pending {
		p.samples = append(p.samples, now.Sub(at))
	}
	for _, at := range p.schedPending {
		p.schedSamples = append(p.schedSamples, now.Sub(at))
	}
	p.pending, p.schedPending = p.pending[:0], p.schedPending[:0]
}

// tailResult is what the tailing phase measured.
type tailResult struct {
	N             int
	P50, P99, Max time.Duration
	// From the scheduled append times: the fake's late ticks counted.
	SchedP50, SchedP99, SchedMax time.Duration
	Batches                      int64
}

// tail runs a tailing Ingester with default settings while the fake appends
// rate transactions per second for d, and measures append → commit.
func (b *bench) tail(ctx context.Context, f *fake, rate int, d time.Duration) (tailResult, error) {
	c, err := dial(f.Addr, 0)
	if err != nil {
		return tailResult{}, err
	}
	defer c.Close()
	name, drop, err := b.freshSchema(ctx, "tail")
	if err != nil {
		return tailResult{}, err
	}
	defer drop()
	h, err := handlerChain(b.db, name, b.treasury)
	if err != nil {
		return tailResult{}, err
	}
	probe := &latencyProbe{}
	ing, err := ingest.New(b.db, c, ingest.Config{Parties: []string{b.treasury}, Schema: name, Handler: ingest.Handlers(probe, h),
		StartOffset: f.End, Logger: b.logger, OnCommit: probe.committed})
	if err != nil {
		return tailResult{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(runCtx) }()
	made, err := f.PrepareTail(rate, d)
	if err != nil {
		return tailResult{}, err
	}
	// Let the ingester open its stream before the clock starts.
	time.Sleep(500 * time.Millisecond)
	var appended int
	err = b.measureCPU("tail", f, int64(made), func() error {
		if appended, err = f.RunTail(); err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for ing.Stats().Transactions < int64(appended) {
			if time.Now().After(deadline) {
				return fmt.Errorf("tail: %d of %d transactions ingested after 30s", ing.Stats().Transactions, appended)
			}
			select {
			case err := <-done:
				return fmt.Errorf("tail: ingester stopped: %w", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		return nil
	})
	if err != nil {
		return tailResult{}, err
	}
	ing.Stop()
	if err := <-done; err != nil {
		return tailResult{}, err
	}
	probe.mu.Lock()
	s, ss := sortedCopy(probe.samples), sortedCopy(probe.schedSamples)
	probe.mu.Unlock()
	if len(s) != appended || len(ss) != appended {
		return tailResult{}, fmt.Errorf("tail: %d latency samples (%d from the schedule) for %d transactions", len(s), len(ss), appended)
	}
	r := tailResult{N: len(s), P50: percentile(s, 50), P99: percentile(s, 99), Max: s[len(s)-1],
		SchedP50: percentile(ss, 50), SchedP99: percentile(ss, 99), SchedMax: ss[len(ss)-1], Batches: ing.Stats().Batches}
	b.logf("  tail: %d transactions at %d tx/s in %d batches: append → commit p50 %.1f ms, p99 %.1f ms, max %.1f ms",
		r.N, rate, r.Batches, ms(r.P50), ms(r.P99), ms(r.Max))
	b.logf("    from the scheduled append (the fake's late ticks counted): p50 %.1f ms, p99 %.1f ms, max %.1f ms",
		ms(r.SchedP50), ms(r.SchedP99), ms(r.SchedMax))
	b.logCPU("tail")
	return r, nil
}

// quietLogger logs warnings and errors only.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
