package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// TestSecondSIGTERMKillsAStuckRunbook: a step may wait where its context
// does not reach (here, the Integration DB's server accepts the connection
// and never answers: the driver's startup does not watch the context), so
// that SIGTERM cannot stop it. Before the runbook handled SIGTERM, that
// signal killed it; handled, neither it nor any later one did, and
// timeout(1), which sends one SIGTERM, waited for ever. A second signal
// must kill it, as ingestd's second signal aborts its shutdown.
func TestSecondSIGTERMKillsAStuckRunbook(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer lis.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	defer func() {
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	}()

	args, err := json.Marshal([]string{"-ledger", "127.0.0.1:1", "-admin", "127.0.0.1:2", "-plaintext", "-party", treasury,
		"-dsn", "postgres://u:pw@" + lis.Addr().String() + "/x?sslmode=disable"})
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunbookChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childArgs+"="+string(args))
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case c := <-accepted:
		accepted <- c
	case err := <-done:
		t.Fatalf("the runbook ended (%v) before it connected to the database:\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the runbook did not connect to the database:\n%s", out.String())
	}
	time.Sleep(200 * time.Millisecond) // waiting in the driver's startup

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		t.Skipf("the first SIGTERM ended the runbook (%v): nothing here is stuck", err)
	case <-time.After(time.Second):
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.Error(t, err, "a runbook stopped by signals exits 0")
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after a second SIGTERM:\n%s", out.String())
	}
}
