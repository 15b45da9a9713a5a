package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// TestNaiveSameRowsAsE2E: the naive baseline claims "the same work" as
// the Ingester with the handler chain. Over the same ledger both must leave
// the same rows in every table (ignoring the now() timestamps and serial
// ids), not merely the same counts (checkHistory).
func TestNaiveSameRowsAsE2E(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 300
	db := pgtest.NewDB(t)
	treasury := "treasury::1220bench"
	f, err := startFake(ctx, childConfig{Treasury: treasury, N: n, Cache: true, Warm: true})
	require.NoError(t, err)
	defer f.Close()
	b := &bench{db: db, treasury: treasury, logger: quietLogger(), progress: testWriter{t}, keepSchemas: true}
	_, err = b.ingestAll(ctx, f, "e2e", false, nil)
	require.NoError(t, err)
	_, err = b.naive(ctx, f, n)
	require.NoError(t, err)
	require.Len(t, b.kept, 2)
	e2e, naive := b.kept[0], b.kept[1]

	var tables []string
	require.NoError(t, db.SelectContext(ctx, &tables, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'schema_migration%' ORDER BY 1`, e2e))
	require.NotEmpty(t, tables)
	// A row as JSON without its serial id and its wall-clock timestamps.
	rows := func(s, table string) string {
		return `SELECT (SELECT jsonb_object_agg(k, v) FROM jsonb_each(to_jsonb(r)) AS e(k, v)
			WHERE k <> 'id' AND k NOT LIKE '%\_at') AS j FROM ` + s + `.` + table + ` AS r`
	}
	for _, table := range tables {
		var count, onlyE2E, onlyNaive int
		require.NoError(t, db.GetContext(ctx, &count, `SELECT count(*) FROM `+e2e+`.`+table))
		require.NoError(t, db.GetContext(ctx, &onlyE2E, `SELECT count(*) FROM (`+rows(e2e, table)+` EXCEPT ALL `+rows(naive, table)+`) x`))
		require.NoError(t, db.GetContext(ctx, &onlyNaive, `SELECT count(*) FROM (`+rows(naive, table)+` EXCEPT ALL `+rows(e2e, table)+`) x`))
		t.Logf("%s: %d rows, %d only in e2e, %d only in naive", table, count, onlyE2E, onlyNaive)
		require.Zero(t, onlyE2E+onlyNaive, "table %s differs between e2e and naive", table)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestTailCountsLateTicks: the fake shares the CPUs with the ingester
// and PostgreSQL, and its ticks run late when they are busy. Latency
// measured from the actual append only leaves that delay out (coordinated
// omission); each transaction also carries its scheduled append time, and
// the probe measures from it as well.
func TestTailCountsLateTicks(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	h := ledgertest.TransferHistory{Treasury: "treasury::1220bench"}
	txs := tailTxs(h, 0, 1000, 20*time.Millisecond)
	n, err := tail(p, txs, 1000)
	require.NoError(t, err)
	require.Equal(t, 20, n)
	var prev time.Time
	for i, tx := range txs {
		at, due, ok := appendTime(tx)
		require.True(t, ok, "workflow id %q", tx.WorkflowID)
		require.False(t, at.Before(due), "appended before it was due")
		if i > 0 {
			require.Equal(t, time.Millisecond, due.Sub(prev), "scheduled a tick apart")
		}
		prev = due
	}

	// A transaction appended 40 ms late counts 40 ms more from its schedule.
	due := time.Now().Add(-100 * time.Millisecond)
	late := &ledger.Transaction{WorkflowID: fmt.Sprintf("%d/%d", due.Add(40*time.Millisecond).UnixNano(), due.UnixNano())}
	probe := &latencyProbe{}
	require.NoError(t, probe.HandleBatch(context.Background(), nil, &ingest.Batch{Transactions: []*ledger.Transaction{late}}))
	probe.committed(ingest.Stats{})
	require.Len(t, probe.samples, 1)
	require.Len(t, probe.schedSamples, 1)
	require.Equal(t, 40*time.Millisecond, probe.schedSamples[0]-probe.samples[0])
}

// Where the kernel's peak RSS cannot be reset, VmHWM is the peak since the
// process started: an interval's peak must come from the samples alone,
// not from it (the peak since the start may).
func TestIntervalPeakWithoutHWMReset(t *testing.T) {
	big := make([]byte, 256<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	big = nil
	runtime.GC()
	debug.FreeOSMemory()
	rss, hwm := procStatus()
	if hwm < rss+128<<20 {
		t.Skipf("the kernel kept no peak above the RSS (rss %d, hwm %d): not Linux, or the memory was not returned", rss, hwm)
	}
	s := &memSampler{noHWM: true}
	s.sample()
	require.Less(t, s.ivRSS, hwm-64<<20, "the interval's peak is a sample of the RSS, not VmHWM")
	require.GreaterOrEqual(t, s.peakRSS, hwm, "the peak since the start keeps VmHWM")
}

// TestFlatRuleRejectsSteadyGrowth: the memory target is RSS "flat from
// 100k to 1M". An ingester whose peak RSS climbs by the same 3 MB in every
// tenth, 80 → 107 MB over the million (a leak of some 30 bytes a
// transaction, 300 MB more at ten million), is not flat; the summary must
// not print "target flat: met" for it. Run 1's tenths (BENCHMARKS.md,
// "Figures") are flat and must stay so.
func TestFlatRuleRejectsSteadyGrowth(t *testing.T) {
	verdict := func(peaks []float64) string {
		r := &Result{MemN: 1_000_000, Durable: true}
		running := 0.0
		for i, p := range peaks {
			running = max(running, p)
			r.Memory = append(r.Memory, memPoint{Transactions: int64(i+1) * 100_000, PeakRSSMB: running, IntervalPeakRSSMB: p,
				ElapsedS: float64(i + 1)})
			r.PeakRSSMB = running
		}
		var out strings.Builder
		summary(&bench{progress: &out}, r, []string{"memory"})
		for line := range strings.SplitSeq(out.String(), "\n") {
			if _, v, ok := strings.Cut(line, "target flat: "); ok {
				return v
			}
		}
		t.Fatalf("no flat verdict in %q", out.String())
		return ""
	}
	var ramp []float64
	for i := range 10 {
		ramp = append(ramp, 80+3*float64(i))
	}
	require.Equal(t, "MISSED", verdict(ramp), "peak RSS per tenth %v", ramp)
	run1 := []float64{80.8, 88.9, 88.5, 85.7, 87.2, 86.2, 86.8, 86.0, 85.1, 87.1}
	require.Equal(t, "met", verdict(run1))
}

// TestMachineCPUWithoutSteal: the "whole machine" CPU per transaction is
// labelled "all processes". /proc/stat's steal column is time the
// hypervisor ran other guests while this VM's CPUs wanted to run: no
// process here used it (the kernel charges it to no task), so it must not
// count. On a shared VM, the slow hours BENCHMARKS.md explains by the
// machine's CPU per transfer are when steal is highest.
func TestMachineCPUWithoutSteal(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	line := "cpu  1000 0 500 9000 100 0 50 400 0 0"
	require.Equal(t, (1000+500+50)*clockTick, machineCPU(line), "user + nice + system + irq + softirq")
}

// TestCheckHistoryEveryTransaction: the bench "checks that every
// transaction has its history entry" (BENCHMARKS.md, Method) so that a
// run that dropped work, and was fast for it, fails. Counting the entries
// alone passes a history where one transaction has two entries and
// another none, and says nothing of the transactions' dedup rows.
func TestCheckHistoryEveryTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 30
	db := pgtest.NewDB(t)
	treasury := "treasury::1220bench"
	f, err := startFake(ctx, childConfig{Treasury: treasury, N: n})
	require.NoError(t, err)
	defer f.Close()
	b := &bench{db: db, treasury: treasury, logger: quietLogger(), progress: testWriter{t}, keepSchemas: true}
	_, err = b.ingestAll(ctx, f, "e2e", false, nil)
	require.NoError(t, err)
	_, err = b.ingestAll(ctx, f, "e2e", false, nil)
	require.NoError(t, err)
	require.Len(t, b.kept, 2)
	s1, s2 := b.kept[0], b.kept[1]
	require.NoError(t, checkHistory(ctx, db, s1, n, true))

	// upd-2's entry written as a second entry of upd-1's.
	_, err = db.ExecContext(ctx, `UPDATE `+s1+`.token_history SET update_id = 'upd-1', node_id = node_id + 1000 WHERE update_id = 'upd-2'`)
	require.NoError(t, err)
	require.ErrorContains(t, checkHistory(ctx, db, s1, n, true), "history entries", "upd-2 has no entry")

	// A transaction without its dedup row.
	_, err = db.ExecContext(ctx, `DELETE FROM `+s2+`.ingested_update WHERE update_id = 'upd-3'`)
	require.NoError(t, err)
	require.ErrorContains(t, checkHistory(ctx, db, s2, n, true), "ingested", "upd-3 has no dedup row")
}
