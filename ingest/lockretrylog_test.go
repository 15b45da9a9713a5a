package ingest_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/jmoiron/sqlx"
)

// TestLockRetryLogsTheBackoff: docs/OPERATIONS.md ("Logs") has every retry
// line carry the attempt, the backoff (in) and the error; an operator
// watching a database that is down at start reads from it when the next
// attempt is. The retries of taking the ingestion lock said no "in".
func TestLockRetryLogsTheBackoff(t *testing.T) {
	_, _, _, client := embedRig(t)
	// Nothing listens on port 1.
	db, err := sqlx.Open("postgres", "postgres://u:pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs syncbuf.Buffer
	ing, err := ingest.New(db, client, ingest.Config{Parties: []string{"treasury::1"}, MinBackoff: 10 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = ing.Run(ctx)
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "while taking the lock, retrying") {
			line = l
			break
		}
	}
	if line == "" {
		t.Fatalf("no lock retry logged:\n%s", logs.String())
	}
	for _, key := range []string{`"attempt":`, `"in":`, `"err":`} {
		if !strings.Contains(line, key) {
			t.Errorf("the lock retry line has no %s: %s", key, line)
		}
	}
}
