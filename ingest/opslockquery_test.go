package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/stretchr/testify/require"
)

// lockHolderQuery returns the statement docs/OPERATIONS.md gives, in a code
// span of its runbook table, to find the ingester holding a schema's lock.
func lockHolderQuery(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "OPERATIONS.md"))
	require.NoError(t, err)
	prose := regexp.MustCompile("(?ms)^```.*?^```").ReplaceAllString(string(b), "")
	var found []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(prose, -1) {
		if s := strings.Join(strings.Fields(m[1]), " "); strings.HasPrefix(s, "SELECT") && strings.Contains(s, "pg_locks") {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "docs/OPERATIONS.md: one SELECT on pg_locks")
	return found[0]
}

// TestOperationsLockHolderQuery: the query docs/OPERATIONS.md gives for the
// log line "another ingester holds the lock of this schema; waiting" names
// exactly the session of the ingester holding the lock (one row, while a
// standby waits beside it), the standby's once it takes over, and no
// session once both have stopped.
func TestOperationsLockHolderQuery(t *testing.T) {
	q := lockHolderQuery(t)
	require.Contains(t, q, "'txhistory'", "the query is written for the default schema")
	ctx, db, _, client := embedRig(t)
	holders := func() []int {
		var pids []int
		require.NoError(t, db.SelectContext(ctx, &pids, "SELECT pid FROM ("+q+") AS q"))
		return pids
	}
	require.Empty(t, holders(), "no ingester running")

	cfg := ingest.Config{Parties: []string{"treasury::1"}, LockPoll: 20 * time.Millisecond}
	start := func() (*ingest.Ingester, func()) {
		ing, err := ingest.New(db, client, cfg)
		require.NoError(t, err)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- ing.Run(rctx) }()
		var once sync.Once
		return ing, func() { once.Do(func() { cancel(); <-done }) }
	}
	waitState := func(ing *ingest.Ingester, want ingest.State) {
		for deadline := time.Now().Add(30 * time.Second); ing.Stats().State != want; {
			require.False(t, time.Now().After(deadline), "state %s, want %s", ing.Stats().State, want)
			time.Sleep(5 * time.Millisecond)
		}
	}
	active, stopActive := start()
	waitState(active, ingest.StateStreaming)
	standby, stopStandby := start()
	defer stopStandby()
	waitState(standby, ingest.StateWaitingForLock)

	pids := holders()
	require.Len(t, pids, 1, "the active ingester's session only")
	var holds bool
	require.NoError(t, db.GetContext(ctx, &holds,
		`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND granted)`, pids[0]))
	require.True(t, holds)

	stopActive()
	waitState(standby, ingest.StateStreaming)
	require.Len(t, holders(), 1, "the standby took over (perhaps on the pooled session the other released)")
	stopStandby()
	require.Empty(t, holders(), "no ingester running")
}
