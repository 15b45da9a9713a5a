package ingest_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// docs/OPERATIONS.md, "Logs": "retries carry the attempt, the backoff (in)
// and the error". The retries of a database that cannot be reached at
// start, while taking the ingestion lock or reading the checkpoint, are
// retries too: an operator reading them learns when the next attempt comes.
func TestDatabaseRetryLinesCarryTheBackoff(t *testing.T) {
	b := setup(t)
	for _, c := range []struct {
		lock ingest.LockPolicy
		msg  string
	}{
		{ingest.LockWait, "ingest: database unavailable while taking the lock, retrying"},
		{ingest.LockNone, "ingest: database unavailable, retrying"},
	} {
		gone, err := sqlx.Open("postgres", "postgres://u@127.0.0.1:1/x?sslmode=disable&connect_timeout=1")
		require.NoError(t, err)
		t.Cleanup(func() { _ = gone.Close() })
		var logs syncbuf.Buffer
		ing, err := ingest.New(gone, b.client, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler,
			Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Lock: c.lock,
			MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		done := make(chan error, 1)
		go func() { done <- ing.Run(ctx) }()
		require.Eventually(t, func() bool { return strings.Contains(logs.String(), c.msg) },
			10*time.Second, 5*time.Millisecond, "no %q:\n%s", c.msg, &logs)
		ing.Stop()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after Stop")
		}
		cancel()
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &rec), "%s", line)
			if rec["msg"] != c.msg {
				continue
			}
			for _, key := range []string{"attempt", "in", "err"} {
				require.Contains(t, rec, key, "a retry line without %q: %s", key, line)
			}
		}
	}
}
