package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStatus returns the current and peak resident set size of this
// process (VmRSS and VmHWM of /proc/self/status), in bytes; zeros where
// /proc is not available.
func procStatus() (rss, hwm uint64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// resetPeakRSS gives memory the earlier phases left behind back to the
// system and resets the kernel's peak RSS (VmHWM) to the current RSS, so
// that the next peak is the next phase's own. It reports whether the reset
// worked (Linux only).
func resetPeakRSS() bool {
	runtime.GC()
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// heapBytes is the Go heap in use: live and not yet collected objects
// (runtime/metrics, without stopping the world as ReadMemStats does).
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// memSampler samples RSS and heap in the background and keeps their peaks,
// since the start and since the last mark.
type memSampler struct {
	mu       sync.Mutex
	peakRSS  uint64 // our own samples of VmRSS, in case VmHWM was not reset
	peakHeap uint64
	ivRSS    uint64 // the peaks since the last mark
	ivHeap   uint64
	// noHWM: resetting VmHWM failed, so it holds the peak since the
	// process started and cannot be an interval's: the interval peaks are
	// the samples alone.
	noHWM bool
	stop  chan struct{}
	done  chan struct{}
}

// startMemSampler samples every interval; hwmReset says whether the
// kernel's peak RSS was reset at the start (resetPeakRSS).
func startMemSampler(every time.Duration, hwmReset bool) *memSampler {
	s := &memSampler{stop: make(chan struct{}), done: make(chan struct{}), noHWM: !hwmReset}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *memSampler) sample() {
	rss, hwm := procStatus()
	heap := heapBytes()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peakRSS = max(s.peakRSS, rss, hwm)
	s.peakHeap = max(s.peakHeap, heap)
	if s.noHWM {
		hwm = 0
	}
	s.ivRSS = max(s.ivRSS, rss, hwm)
	s.ivHeap = max(s.ivHeap, heap)
}

// mark returns the peaks since the start and since the previous mark, and
// starts a new interval: it also resets the kernel's peak RSS (VmHWM), so
// that the next interval's peak is its own (the peak since the start is
// kept by the sampler).
func (s *memSampler) mark() (rss, heap, ivRSS, ivHeap uint64) {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	rss, heap, ivRSS, ivHeap = s.peakRSS, s.peakHeap, s.ivRSS, s.ivHeap
	s.noHWM = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil
	cur, _ := procStatus()
	s.ivRSS, s.ivHeap = cur, heapBytes()
	return rss, heap, ivRSS, ivHeap
}

func (s *memSampler) Stop() { close(s.stop); <-s.done }

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted samples,
// by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func sortedCopy(d []time.Duration) []time.Duration {
	out := slices.Clone(d)
	slices.Sort(out)
	return out
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// clockTick is the unit of the CPU times in /proc (USER_HZ), 100 per second
// on every Linux this runs on.
const clockTick = 10 * time.Millisecond

// procCPU reads /proc/<pid>/stat: the parent's pid, the CPU time (user +
// system) the process used and that of its children it has waited for.
func procCPU(pid string) (ppid int, own, reaped time.Duration, ok bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(s[i+1:]) // state ppid ... utime(12th) stime cutime cstime
	if len(f) < 15 {
		return 0, 0, 0, false
	}
	n := func(k int) time.Duration { v, _ := strconv.ParseInt(f[k], 10, 64); return time.Duration(v) * clockTick }
	ppid, _ = strconv.Atoi(f[1])
	return ppid, n(11) + n(12), n(13) + n(14), true
}

// cpuUse is the CPU time the parts of the chain had used at one moment.
type cpuUse struct {
	Ingester, Fake, Postgres, Machine time.Duration
}

// sampleCPU reads the CPU time of this process, of the fake (fakePID), of
// the PostgreSQL server (pgPID, the postmaster: it and its children, live
// or exited; 0 when unknown, with -dsn) and of the whole machine (all
// processes, other users' included: /proc/stat, steal left out).
func sampleCPU(fakePID, pgPID int) cpuUse {
	var u cpuUse
	_, u.Ingester, _, _ = procCPU("self")
	if fakePID > 0 {
		_, u.Fake, _, _ = procCPU(strconv.Itoa(fakePID))
	}
	if pgPID > 0 {
		_, own, reaped, _ := procCPU(strconv.Itoa(pgPID))
		u.Postgres = own + reaped
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if e.Name()[0] < '0' || e.Name()[0] > '9' {
				continue
			}
			if ppid, own, _, ok := procCPU(e.Name()); ok && ppid == pgPID {
				u.Postgres += own
			}
		}
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		u.Machine = machineCPU(line)
	}
	return u
}

// machineCPU is the CPU time all processes used, from the first line of
// /proc/stat: neither idle nor iowait, nor steal (time the hypervisor gave
// other guests, which no process here used).
func machineCPU(line string) time.Duration {
	var d time.Duration
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal
	for k, v := range f[1:min(len(f), 9)] {
		if k == 3 || k == 4 || k == 7 { // idle, iowait, steal (no process here ran)
			continue
		}
		t, _ := strconv.ParseInt(v, 10, 64)
		d += time.Duration(t) * clockTick
	}
	return d
}

// perTx is the CPU time per transaction each part used between two samples,
// in microseconds.
type perTx struct {
	Ingester float64 `json:"ingester_us"`
	Fake     float64 `json:"fake_us"`
	Postgres float64 `json:"postgres_us,omitempty"`
	Machine  float64 `json:"machine_us"`
}

func cpuPerTx(before, after cpuUse, n int64) perTx {
	us := func(a, b time.Duration) float64 { return float64(b-a) / float64(time.Microsecond) / float64(n) }
	return perTx{Ingester: us(before.Ingester, after.Ingester), Fake: us(before.Fake, after.Fake),
		Postgres: us(before.Postgres, after.Postgres), Machine: us(before.Machine, after.Machine)}
}

// postmasterPID reads the server's pid from its data directory; 0 if it
// cannot.
func postmasterPID(dataDir string) int {
	data, err := os.ReadFile(dataDir + "/postmaster.pid")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}
