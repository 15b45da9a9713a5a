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
	out := &killFakeOn{t: t, line: "  ceiling: "}
	done := make(chan error, 1)
	go func() {
		_, err := run(ctx, options{N: 3000, NaiveN: 10, DSN: dsn, Phases: "throughput"}, out)
		done <- err
	}()
	select {
	case err := <-done:
		require.True(t, out.wasKilled(), "the fake was killed after the ceiling")
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
	t      *testing.T
	line   string
	mu     sync.Mutex
	killed bool
}

func (w *killFakeOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	if !w.killed && strings.HasPrefix(string(p), w.line) {
		for _, pid := range fakeChildren() {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				w.killed = true
			}
		}
	}
	return len(p), nil
}

func (w *killFakeOn) wasKilled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.killed
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
