package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	if js := os.Getenv(childEnv); js != "" {
		// Re-executed as the fake participant child.
		if err := runChild(js); err != nil {
			os.Stderr.WriteString("bench fake participant: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	pgtest.Main(m)
}

// benchTestTimeout bounds a test's bench runs, against a hang only: under
// -race on CI's two shared cores a run of a few hundred transactions takes
// from seconds to well over a minute (TestBenchBatchSettings' three runs
// took 121s, past the two minutes it had, with a busy machine; its third
// run's fake participant was then killed by the context before it said
// "ready").
const benchTestTimeout = 10 * time.Minute

// TestBenchSmall runs every phase with small counts, so that CI exercises
// the bench's logic: the child participant, the phases' bookkeeping and the
// JSON result. It checks what was measured, never how fast.
func TestBenchSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), benchTestTimeout)
	defer cancel()
	var out strings.Builder
	res, err := run(ctx, options{
		N: 600, MemN: 400, NaiveN: 40, TailRate: 200, TailFor: 500 * time.Millisecond,
		DSN: pgtest.NewDSN(t), Phases: "memory,throughput,tail",
		// Batches of at most 20 commit between every two tenths (40
		// transactions apart) of the memory phase.
		MaxBatch: 20,
	}, &out)
	t.Log(out.String())
	require.NoError(t, err)

	require.Positive(t, res.E2ETxPerS)
	require.Positive(t, res.CeilingTxPerS)
	require.Positive(t, res.CeilingAgainTxPerS)
	require.Positive(t, res.NaiveTxPerS)
	require.Positive(t, res.PeakRSSMB)
	require.Positive(t, res.TailP50MS)
	require.GreaterOrEqual(t, res.TailP99MS, res.TailP50MS)
	require.Equal(t, 100, res.TailN, "every appended transaction has a latency sample")
	require.Len(t, res.Memory, 10, "samples at every tenth")
	prev := memPoint{}
	for i, p := range res.Memory {
		require.GreaterOrEqual(t, p.Transactions, int64(40*(i+1)))
		require.Positive(t, p.PeakRSSMB)
		require.GreaterOrEqual(t, p.ElapsedS, prev.ElapsedS)
		require.Greater(t, p.Transactions, prev.Transactions, "a commit between tenths %d and %d", i, i+1)
		require.Positive(t, p.IntervalTxPerS, "tenth %d", i+1)
		require.InDelta(t, float64(p.Transactions-prev.Transactions)/(p.ElapsedS-prev.ElapsedS), p.IntervalTxPerS, p.IntervalTxPerS*1e-6)
		prev = p
	}
	require.Contains(t, out.String(), "tx/s over the last three intervals")
	require.Equal(t, int64(400), res.Memory[9].Transactions)

	js, err := json.Marshal(res)
	require.NoError(t, err)
	var keys map[string]any
	require.NoError(t, json.Unmarshal(js, &keys))
	for _, k := range []string{"e2e_tx_per_s", "ceiling_tx_per_s", "naive_tx_per_s", "peak_rss_mb", "tail_p50_ms", "tail_p99_ms"} {
		require.Contains(t, keys, k)
	}
	require.Equal(t, []any{"memory", "throughput", "tail"}, keys["phases"], "the JSON says which phases ran")
	require.Contains(t, out.String(), "summary")
	for _, phase := range []string{"ceiling", "e2e", "e2e_history_only", "ceiling_again"} {
		require.Contains(t, res.CPU, phase)
	}
	require.Contains(t, out.String(), "CPU per transaction: ingester")
	require.Contains(t, out.String(), "ceiling_again: 600 transactions received and decoded")
}

// TestBenchBatchSettings: -max-batch and -stream-buffer reach the
// Ingester of the e2e phase (its batches are no bigger than asked) and the
// result says what they were.
func TestBenchBatchSettings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), benchTestTimeout)
	defer cancel()
	var out strings.Builder
	res, err := run(ctx, options{
		N: 600, NaiveN: 10, DSN: pgtest.NewDSN(t), Phases: "throughput", MaxBatch: 50, StreamBuffer: 64,
	}, &out)
	t.Log(out.String())
	require.NoError(t, err)
	require.Equal(t, 50, res.MaxBatch)
	require.Equal(t, 64, res.StreamBuffer)
	require.Equal(t, ingest.StreamBufferBytesDefault, res.StreamBufferBytes)
	require.GreaterOrEqual(t, res.E2EBatches, int64(600/50), "600 transactions in batches of at most 50")
	require.Contains(t, out.String(), "MaxBatchSize 50, StreamBuffer 64, StreamBufferBytes 16777216")

	// A byte budget of about five transfers (some 6 KB each on the wire)
	// bounds what is read but not committed, so batches stay that small.
	out.Reset()
	res, err = run(ctx, options{
		N: 600, NaiveN: 10, DSN: pgtest.NewDSN(t), Phases: "throughput", StreamBufferBytes: 32 << 10,
	}, &out)
	t.Log(out.String())
	require.NoError(t, err)
	require.Equal(t, 32<<10, res.StreamBufferBytes)
	require.GreaterOrEqual(t, res.E2EBatches, int64(600/6), "600 transactions with at most about five uncommitted")
	require.Contains(t, out.String(), "StreamBufferBytes 32768")
	require.Equal(t, ledger.DefaultReceiveWindow, res.ReceiveWindow)

	// gRPC's dynamic window, as before ledger.Config.ReceiveWindow.
	out.Reset()
	res, err = run(ctx, options{N: 300, NaiveN: 5, DSN: pgtest.NewDSN(t), Phases: "throughput", ReceiveWindow: -1}, &out)
	t.Log(out.String())
	require.NoError(t, err)
	require.Equal(t, -1, res.ReceiveWindow)
	require.Contains(t, out.String(), "gRPC's dynamic receive window")
}

// TestSampleCPU: the CPU time read from /proc grows with work done, as much
// as getrusage says, and the server's processes are found through the
// postmaster. It spins until the process has used 150 ms of CPU, however
// long that takes on a busy machine, rather than for a fixed wall time.
func TestSampleCPU(t *testing.T) {
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	pg := postmasterPID(srv.Dir())
	require.Positive(t, pg)
	rusage := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before, ruBefore := sampleCPU(0, pg), rusage()
	x := uint64(1)
	for start := time.Now(); rusage()-ruBefore < 150*time.Millisecond && time.Since(start) < 30*time.Second; {
		for range 100_000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	after, ruAfter := sampleCPU(0, pg), rusage()
	require.NotZero(t, x)
	used, want := after.Ingester-before.Ingester, ruAfter-ruBefore
	require.GreaterOrEqual(t, want, 150*time.Millisecond, "spun for 30 s without getting 150 ms of CPU")
	tolerance := want/10 + 2*clockTick // /proc counts in clock ticks
	require.InDelta(t, want.Seconds(), used.Seconds(), tolerance.Seconds(), "/proc/self/stat against getrusage")
	require.GreaterOrEqual(t, after.Machine-before.Machine, used-2*clockTick, "the machine's count holds ours")
	require.Positive(t, after.Postgres, "the server's start-up used some CPU")
}

// TestBenchRequested: -requested adds the e2e_requested phase, whose
// withdrawals were requested beforehand and must end completed, not
// recovered; and checkRequested, which says so, fails when they were not.
func TestBenchRequested(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	res, err := run(ctx, options{N: 300, NaiveN: 5, DSN: pgtest.NewDSN(t), Phases: "throughput", Requested: true}, &out)
	t.Log(out.String())
	require.NoError(t, err)
	require.Positive(t, res.RequestedTxPerS)
	require.Contains(t, res.CPU, "e2e_requested")
	require.Contains(t, out.String(), "withdrawals requested beforehand")

	// The check itself: requests not completed yet, then one recovered.
	db := pgtest.NewDB(t)
	const s = "bench_requested_check"
	require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema(s)))
	b := &bench{db: db, history: ledgertest.TransferHistory{Treasury: "treasury::1220bench"}}
	require.NoError(t, b.seedRequests(ctx, s, 25)) // withdrawals 10 and 20
	err = checkRequested(ctx, db, s)
	require.ErrorContains(t, err, "0 of 2 requested withdrawals completed, 2 reservations left")
	_, err = db.Exec(`DELETE FROM ` + s + `.withdrawal_reservation`)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE ` + s + `.withdrawal SET status = 'completed'`)
	require.NoError(t, err)
	require.NoError(t, checkRequested(ctx, db, s))
	_, err = db.Exec(`UPDATE ` + s + `.withdrawal SET recovered = true WHERE id = 'wd-20'`)
	require.NoError(t, err)
	require.ErrorContains(t, checkRequested(ctx, db, s), "1 of 2 requested withdrawals completed")
}

// TestWindowRate: the rate over three tenths runs from the point before
// the first of them (the start for the first tenth) to the third.
func TestWindowRate(t *testing.T) {
	pts := []memPoint{
		{Transactions: 100, ElapsedS: 1},
		{Transactions: 200, ElapsedS: 2},
		{Transactions: 300, ElapsedS: 4},
		{Transactions: 400, ElapsedS: 8},
		{Transactions: 500, ElapsedS: 9},
	}
	require.InDelta(t, 300.0/4, windowRate(pts, 0), 1e-9)
	require.InDelta(t, (500.0-200)/(9-2), windowRate(pts, 2), 1e-9)
	require.InDelta(t, (500.0-300)/(9-4), windowRate(pts, 3), 1e-9, "fewer than three points left")
	require.Zero(t, windowRate(nil, 0))
	require.Zero(t, windowRate([]memPoint{{Transactions: 5}}, 0), "no time elapsed")
}
