package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

const childArgs = "QUICKSTART_TEST_CHILD_ARGS"

// TestQuickstartChild is the command in a child process (a no-op
// otherwise).
func TestQuickstartChild(t *testing.T) {
	v := os.Getenv(childArgs)
	if v == "" {
		t.Skip("only in the child process of TestSIGTERMRemovesTheLocalDatabase")
	}
	var args []string
	require.NoError(t, json.Unmarshal([]byte(v), &args))
	os.Args = append([]string{"quickstart"}, args...)
	main()
}

// TestSIGTERMRemovesTheLocalDatabase: quickstart announces its local
// PostgreSQL with "data in DIR, removed on exit". Stopped by SIGTERM
// (timeout(1), a CI runner, a container stop) as by SIGINT, it removes
// DIR and exits 1, instead of dying and leaving the data directory behind.
func TestSIGTERMRemovesTheLocalDatabase(t *testing.T) {
	// Enough transactions that ingestion still runs when SIGTERM comes,
	// few enough that scripting them (under -race, on a busy machine)
	// does not hold back the announcement for minutes.
	args, err := json.Marshal([]string{"-n", "5000"})
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestQuickstartChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childArgs+"="+string(args))
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	announced := regexp.MustCompile(`local PostgreSQL on \S+ \(data in (\S+), removed on exit\)`)
	var dir string
	for deadline := time.Now().Add(4 * time.Minute); dir == ""; time.Sleep(20 * time.Millisecond) {
		if m := announced.FindStringSubmatch(out.String()); m != nil {
			dir = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no local PostgreSQL announced in 4 minutes:\n%s", out.String())
		}
	}
	t.Cleanup(func() {
		if parent := filepath.Dir(dir); strings.HasPrefix(filepath.Base(parent), "txhistory-pgtest-") {
			os.RemoveAll(parent)
		}
	})
	time.Sleep(200 * time.Millisecond)
	sent := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	defer func() { t.Logf("exited %s after SIGTERM", time.Since(sent)) }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("still running 30 s after SIGTERM:\n%s", out.String())
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "exit 0 after SIGTERM:\n%s", out.String())
	require.Equal(t, 1, exit.ExitCode(), "killed by SIGTERM (%v):\n%s", exit, out.String())
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "the local PostgreSQL's data directory %s is left behind", dir)
}
