package ingest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// TestOperationsRetryRowQuotesWhatIsLogged: the runbook pointer of
// docs/OPERATIONS.md for participant and network trouble ("`ingest:
// retrying` with `Unavailable`, …") quotes texts for an operator to search
// the logs for. Each is one the retry line carries: here the connection to
// the participant is dropped under a tailing Ingester (a TCP proxy closing
// it, then resetting it), over the real gRPC stack, and the errors logged
// are compared with the quotes; `stalled` is the stall timeout's error and
// the keepalive one is gRPC's own.
func TestOperationsRetryRowQuotesWhatIsLogged(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "OPERATIONS.md"))
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| `ingest: retrying` with (.*?) \\| ").FindStringSubmatch(string(b))
	require.NotNil(t, row, "docs/OPERATIONS.md: the runbook pointer for `ingest: retrying`")
	var quotes []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(row[1], -1) {
		quotes = append(quotes, m[1])
	}
	require.NotEmpty(t, quotes)

	bundle := setup(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = lis.Close() })
	var mu sync.Mutex
	var conns []*net.TCPConn
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", bundle.p.Addr())
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c.(*net.TCPConn), s.(*net.TCPConn))
			mu.Unlock()
			go func() { _, _ = io.Copy(s, c) }()
			go func() { _, _ = io.Copy(c, s) }()
		}
	}()
	drop := func(reset bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			if reset {
				_ = c.SetLinger(0)
			}
			_ = c.Close()
		}
		conns = nil
	}

	var logs syncbuf.Buffer
	ing, err := ingest.New(bundle.db, dial(t, lis.Addr().String(), nil), ingest.Config{Parties: []string{treasury},
		Handler: effectsHandler, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	retries := func() []string {
		var errs []string
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "ingest: retrying" {
				errs = append(errs, rec["err"].(string))
			}
		}
		return errs
	}
	for i, reset := range []bool{false, true} {
		require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(conns) > 0 }, 10*time.Second, 5*time.Millisecond)
		time.Sleep(100 * time.Millisecond) // the stream is open
		drop(reset)
		require.Eventually(t, func() bool { return len(retries()) > i }, 10*time.Second, 5*time.Millisecond, "%s", &logs)
	}
	ing.Stop()
	require.NoError(t, <-done)
	dropped := retries()

	said := append([]string{"ingest: update stream stalled", "keepalive ping failed to receive ACK within timeout"}, dropped...)
	quotesDrop := false
	for _, q := range quotes {
		found := false
		for _, s := range said {
			found = found || strings.Contains(s, q)
		}
		require.True(t, found, "docs/OPERATIONS.md quotes `%s` for participant or network trouble, which no retry line says; a dropped connection logs %q", q, dropped)
		for _, s := range dropped {
			quotesDrop = quotesDrop || (q != "Unavailable" && strings.Contains(s, q))
		}
	}
	require.True(t, quotesDrop, "docs/OPERATIONS.md quotes nothing but the code of what a dropped connection logs: %q", dropped)
}
