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

// memSampler samples RSS and heap in the background and keeps their peaks.
type memSampler struct {
	mu       sync.Mutex
	peakRSS  uint64 // our own samples of VmRSS, in case VmHWM was not reset
	peakHeap uint64
	stop     chan struct{}
	done     chan struct{}
}

func startMemSampler(every time.Duration) *memSampler {
	s := &memSampler{stop: make(chan struct{}), done: make(chan struct{})}
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
}

// peaks returns the peak RSS and heap so far.
func (s *memSampler) peaks() (rss, heap uint64) {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakRSS, s.peakHeap
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
