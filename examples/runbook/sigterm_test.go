package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// childArgs, set in a child process of TestRunbookStopsOnSIGTERM, holds the
// JSON arguments the child runs the command with.
const childArgs = "RUNBOOK_TEST_CHILD_ARGS"

// TestRunbookChild is the command in a child process (a no-op otherwise).
func TestRunbookChild(t *testing.T) {
	v := os.Getenv(childArgs)
	if v == "" {
		t.Skip("only in the child process of TestRunbookStopsOnSIGTERM")
	}
	var args []string
	require.NoError(t, json.Unmarshal([]byte(v), &args))
	os.Exit(run(args, os.Getenv, os.Stdout, os.Stderr))
}

// TestRunbookStopsOnSIGTERM: the runbook waiting in step 5 (here for a
// participant that never answers the look-up) and sent SIGTERM, as
// timeout(1) or a Kubernetes Job sends it, stops as on SIGINT: the step
// says FAILED, the exit status is 1 (a step failed), and the checkpoint
// is not moved.
func TestRunbookStopsOnSIGTERM(t *testing.T) {
	r := newRestored(t, nil)
	r.p.Intercept(ledgertest.MethodGetHighestOffsetByTimestamp, func(ctx context.Context, _ proto.Message) error {
		<-ctx.Done()
		return ctx.Err()
	})
	var before int64
	require.NoError(t, r.db.Get(&before, `SELECT ledger_offset FROM txhistory.checkpoint`))

	args, err := json.Marshal([]string{"-ledger", r.p.Addr(), "-admin", r.p.AdminAddr(), "-plaintext", "-dsn", r.dsn,
		"-party", treasury, "-poll", "10ms", "-yes"})
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunbookChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childArgs+"="+string(args))
	var out, errOut syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Step 5.") }, 30*time.Second, 10*time.Millisecond, errOut.String())
	time.Sleep(200 * time.Millisecond) // in the look-up
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("still running 20 s after SIGTERM:\n%s\n%s", out.String(), errOut.String())
	}
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	require.Equal(t, 1, exit.ExitCode(), "killed by SIGTERM (%v) instead of stopping with exit status 1:\n%s\n%s", exit, out.String(), errOut.String())
	require.Contains(t, out.String(), "FAILED")
	require.NotContains(t, out.String(), "Step 6.")
	var after int64
	require.NoError(t, r.db.Get(&after, `SELECT ledger_offset FROM txhistory.checkpoint`))
	require.Equal(t, before, after, "the checkpoint moved")
}
