package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/stretchr/testify/require"
)

// TestOperationsLockHolderQueryOtherDatabase: advisory locks are per
// database, and pg_locks shows those of every database of the server. The
// query docs/OPERATIONS.md gives for "another ingester holds the lock of
// this schema" must name the session holding the lock of the database the
// operator asks in, not also the ingester of another Integration DB on the
// same server (a second environment, a restore drill's copy), which the
// runbook's "find and stop the other one" would then have them stop.
func TestOperationsLockHolderQueryOtherDatabase(t *testing.T) {
	q := lockHolderQuery(t)
	ctx, db, _, client := embedRig(t)
	other := pgtest.NewDB(t) // same server
	require.NoError(t, schema.Migrate(ctx, other))

	start := func(ing *ingest.Ingester) {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- ing.Run(rctx) }()
		t.Cleanup(func() { cancel(); <-done })
		for deadline := time.Now().Add(30 * time.Second); ing.Stats().State != ingest.StateStreaming; {
			require.False(t, time.Now().After(deadline), "state %s, want streaming", ing.Stats().State)
			time.Sleep(5 * time.Millisecond)
		}
	}
	cfg := ingest.Config{Parties: []string{"treasury::1"}}
	here, err := ingest.New(db, client, cfg)
	require.NoError(t, err)
	there, err := ingest.New(other, client, cfg)
	require.NoError(t, err)
	start(here)
	start(there)

	var pids []int
	require.NoError(t, db.SelectContext(ctx, &pids, "SELECT pid FROM ("+q+") AS q"))
	var theirs []int
	require.NoError(t, other.SelectContext(ctx, &theirs, "SELECT pid FROM ("+q+") AS q"))
	require.Len(t, pids, 1, "the query names the ingesters of every database of the server, not this database's alone")
	require.Len(t, theirs, 1)
	require.NotEqual(t, theirs[0], pids[0])
	var datname string
	require.NoError(t, db.GetContext(ctx, &datname, `SELECT datname FROM pg_stat_activity WHERE pid = $1`, pids[0]))
	var current string
	require.NoError(t, db.GetContext(ctx, &current, `SELECT current_database()`))
	require.Equal(t, current, datname, "the session named is this database's ingester")
}
