package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// TestBenchFailsWhenTheFakeExits: an Ingester retries a participant that
// is gone, by default forever (ingest.Config.MaxAttempts). If the fake
// participant's process dies during a phase (the OOM killer taking the
// memory phase's child, which peaks at 3.1 GB), the bench must fail and
// say so, not wait for a participant that will never come back.
func TestBenchFailsWhenTheFakeExits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := pgtest.NewDSN(t)
	// The fake is killed as the ceiling, the first throughput phase, prints
	// its figure: the e2e phase after it has no participant.
	out := &killFakeOn{t: t, line: "  ceiling: ", killedC: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := run(ctx, options{N: 3000, NaiveN: 10, DSN: dsn, Phases: "throughput"}, out)
		done <- err
	}()
	// The 30 s count from the kill: scripting the history and the ceiling
	// phase before it take as long as the machine makes them.
	select {
	case err := <-done:
		t.Fatalf("the bench ended (%v) before the fake was killed after the ceiling", err)
	case <-out.killedC:
	case <-time.After(4 * time.Minute):
		cancel()
		<-done
		t.Fatal("no ceiling figure, so no fake killed, in 4 minutes")
	}
	select {
	case err := <-done:
		require.ErrorContains(t, err, "fake participant exited")
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		t.Fatal("the bench still ran 30s after its fake participant was killed in the throughput phase")
	}
}

// killFakeOn is a progress writer that kills the fake participant (the
// child of this process running this executable) when a line starting
// with line is written.
type killFakeOn struct {
	t       *testing.T
	line    string
	killedC chan struct{} // closed once the fake was killed
	mu      sync.Mutex
	killed  bool
}

func (w *killFakeOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	if !w.killed && strings.HasPrefix(string(p), w.line) {
		for _, pid := range fakeChildren() {
			if syscall.Kill(pid, syscall.SIGKILL) == nil && !w.killed {
				w.killed = true
				close(w.killedC)
			}
		}
	}
	return len(p), nil
}

// fakeChildren are the pids of this process's children that run this
// executable: the fake participants.
func fakeChildren() []int {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, _, ok := procCPU(e.Name()); !ok || ppid != os.Getpid() {
			continue
		}
		if target, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && target == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}
