package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
)

// handlerChain is the child's (and the undisturbed run's) handler: the
// effects table, then the token standard history and the withdrawal
// reconciler, as examples/ingestd chains them. No withdrawal is requested
// beforehand, so each withdrawal of the appended TransferHistory takes the
// reconciler's recovery path; its warning per withdrawal is not logged.
func handlerChain(db *sqlx.DB) (ingest.Handler, error) {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	hist, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quiet})
	if err != nil {
		return nil, err
	}
	store, err := withdrawal.NewStore(db, withdrawal.Config{Treasury: treasury, Logger: quiet})
	if err != nil {
		return nil, err
	}
	rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{Logger: quiet, History: hist})
	if err != nil {
		return nil, err
	}
	return ingest.Handlers(effectsHandler, hist, rec), nil
}

// childStats is what the child reports of itself, every statsInterval, in
// the file named by childStatsEnv (written to a temporary file and renamed,
// so that the parent never reads half of it).
type childStats struct {
	PID        int       `json:"pid"`
	At         time.Time `json:"at"`
	Goroutines int       `json:"goroutines"`
	HeapLive   uint64    `json:"heap_live"` // bytes allocated and still reachable, right after a GC
	FDs        int       `json:"fds"`       // open file descriptors (/proc/self/fd)
	Sockets    int       `json:"sockets"`   // of which sockets (gRPC and PostgreSQL connections)
	PoolOpen   int       `json:"pool_open"` // the *sql.DB's open connections
}

const statsInterval = 500 * time.Millisecond

// writeStats reports the child's resources until the process ends.
func writeStats(path string, db *sqlx.DB) {
	for {
		st := childStats{PID: os.Getpid(), At: time.Now()}
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		st.HeapLive = m.HeapAlloc
		st.Goroutines = runtime.NumGoroutine()
		if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
			for _, e := range ents {
				st.FDs++
				if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
					st.Sockets++
				}
			}
		}
		st.PoolOpen = db.Stats().OpenConnections
		if b, err := json.Marshal(st); err == nil {
			if os.WriteFile(path+".tmp", b, 0o600) == nil {
				_ = os.Rename(path+".tmp", path)
			}
		}
		time.Sleep(statsInterval)
	}
}

// sample is one record of the ingester's resources against the faults
// injected so far.
type sample struct {
	elapsed     time.Duration
	faults      int // injected so far in all
	childFaults int // injected since the current ingester process started
	childStats
	pgSessions int // the ingester's sessions in pg_stat_activity
}

func (s sample) String() string {
	return fmt.Sprintf("  %8s %6d %7d %8d %10d %9.1f %6d %8d %6d %6d",
		s.elapsed.Round(time.Second), s.faults, s.childFaults, s.PID, s.Goroutines, float64(s.HeapLive)/(1<<20), s.pgSessions, s.PoolOpen, s.FDs, s.Sockets)
}

const sampleHeader = "   elapsed faults (child)      pid goroutines heap(MiB) pg-ses pool-open    fds  socks"

// leakRecorder samples the child's resources between faults and checks at
// the end that none grew with the number of faults.
type leakRecorder struct {
	s        *soak
	monitor  *sqlx.DB // the postgres database, for pg_stat_activity
	path     string   // the child's stats file
	start    time.Time
	every    time.Duration
	lastRow  time.Time
	sinceOf  map[int]int // pid → faults injected when that process was first seen
	samples  []sample
	printing bool
}

// take records a sample; it prints it if a row is due (or always, if force).
func (r *leakRecorder) take(ctx context.Context, force bool) (sample, error) {
	total := r.s.totalFaults()
	smp := sample{elapsed: time.Since(r.start), faults: total}
	pid := r.s.child.pid()
	// The child reports every statsInterval: wait for a report of the
	// current process newer than now, so that a sample after a fault is
	// one taken after it.
	now := time.Now()
	deadline := now.Add(10 * time.Second)
	for {
		var st childStats
		b, err := os.ReadFile(r.path)
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err == nil && st.PID == pid && st.At.After(now) {
			smp.childStats = st
			break
		}
		if time.Now().After(deadline) {
			return smp, fmt.Errorf("no resource report of the ingester (pid %d) within 10s (last: %+v, %v)", pid, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	since, ok := r.sinceOf[pid]
	if !ok {
		since = total
		r.sinceOf[pid] = total
	}
	smp.childFaults = total - since
	var err error
	for range 5 { // the monitor's session dies with a PostgreSQL restart
		if err = r.monitor.GetContext(ctx, &smp.pgSessions, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, childAppName); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return smp, fmt.Errorf("count the ingester's sessions: %w", err)
	}
	r.samples = append(r.samples, smp)
	if force || time.Since(r.lastRow) >= r.every {
		r.lastRow = time.Now()
		if !r.printing {
			fmt.Println(sampleHeader)
			r.printing = true
		}
		fmt.Println(smp)
	}
	return smp, nil
}

// Leak check thresholds: after the last fault and a settle period, the
// ingester may hold no more than it held after its first few faults plus
// these margins.
const (
	baselineFrom    = 3  // the baseline is the most held after faults baselineFrom..baselineTo of the last process
	baselineTo      = 10 //
	minCheckFaults  = 30 // the last process must have seen at least this many faults for a verdict
	marginGoroutine = 5
	marginSessions  = 1
	marginPool      = 1
	marginFDs       = 3
	marginHeapFixed = 2 << 20 // plus a quarter of the baseline
)

// check compares the settled samples (taken after the last fault, the
// catch-up and a settle period) with the baseline of the same process. It
// returns the report lines and the problems found.
func (r *leakRecorder) check(settled []sample) (report, problems []string) {
	if len(settled) == 0 {
		return []string{"no sample after the faults"}, nil
	}
	pid := settled[len(settled)-1].PID
	// The settled figure: the least of the settle period's samples, so
	// that a moment's work (a batch in flight) is not taken for a leak.
	fin := settled[0]
	for _, s := range settled[1:] {
		fin.Goroutines = min(fin.Goroutines, s.Goroutines)
		fin.HeapLive = min(fin.HeapLive, s.HeapLive)
		fin.pgSessions = min(fin.pgSessions, s.pgSessions)
		fin.PoolOpen = min(fin.PoolOpen, s.PoolOpen)
		fin.FDs = min(fin.FDs, s.FDs)
		fin.Sockets = min(fin.Sockets, s.Sockets)
		fin.childFaults = max(fin.childFaults, s.childFaults)
	}
	var base sample
	n := 0
	for _, s := range r.samples {
		if s.PID != pid || s.childFaults < baselineFrom || s.childFaults > baselineTo {
			continue
		}
		n++
		base.Goroutines = max(base.Goroutines, s.Goroutines)
		base.HeapLive = max(base.HeapLive, s.HeapLive)
		base.pgSessions = max(base.pgSessions, s.pgSessions)
		base.PoolOpen = max(base.PoolOpen, s.PoolOpen)
		base.FDs = max(base.FDs, s.FDs)
		base.Sockets = max(base.Sockets, s.Sockets)
	}
	report = append(report, fmt.Sprintf("last ingester process %d saw %d faults", pid, fin.childFaults))
	if n == 0 || fin.childFaults < minCheckFaults {
		report = append(report, fmt.Sprintf("no verdict: it needs %d faults or more after a baseline at faults %d-%d (SIGKILL starts a new process; -faults without sigkill for a long run)",
			minCheckFaults, baselineFrom, baselineTo))
		return report, nil
	}
	heapMargin := uint64(marginHeapFixed) + base.HeapLive/4
	for _, c := range []struct {
		name            string
		base, fin, marg uint64
		unit            string
	}{
		{"goroutines", uint64(base.Goroutines), uint64(fin.Goroutines), marginGoroutine, ""},
		{"heap live", base.HeapLive >> 10, fin.HeapLive >> 10, heapMargin >> 10, " KiB"},
		{"PostgreSQL sessions", uint64(base.pgSessions), uint64(fin.pgSessions), marginSessions, ""},
		{"pool connections", uint64(base.PoolOpen), uint64(fin.PoolOpen), marginPool, ""},
		{"open fds", uint64(base.FDs), uint64(fin.FDs), marginFDs, ""},
		{"sockets", uint64(base.Sockets), uint64(fin.Sockets), marginFDs, ""},
	} {
		verdict := "ok"
		if c.fin > c.base+c.marg {
			verdict = "GROWS"
			problems = append(problems, fmt.Sprintf("leak: %s %d%s after %d faults and settling, %d%s after faults %d-%d (margin %d%s)",
				c.name, c.fin, c.unit, fin.childFaults, c.base, c.unit, baselineFrom, baselineTo, c.marg, c.unit))
		}
		report = append(report, fmt.Sprintf("%-20s after faults %d-%d: %d%s, settled: %d%s (margin %d%s) %s",
			c.name, baselineFrom, baselineTo, c.base, c.unit, c.fin, c.unit, c.marg, c.unit, verdict))
	}
	return report, problems
}
