package recovery_test

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The recovery runbook run again and again (an operator re-running the dry
// run, each run waiting for the participant and looking packages up)
// leaves no goroutine and no PostgreSQL session behind.
func TestRunbookRepeatedLeaksNothing(t *testing.T) {
	ctx := context.Background()
	steps := script(120, 62, 63)
	b := newBundle(t, ledgertest.WithAdminBehaviour(ledgertest.AdminV34))
	restoredAfter(t, b, steps, 40, "tx-00062")
	since := backupTime(b)
	rb := &recovery.Runbook{DB: b.db, Participant: b.client, Options: options(""), PackagesSince: since, Out: io.Discard}
	sessions := func() int {
		var n int
		require.NoError(t, b.db.GetContext(ctx, &n, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()`))
		return n
	}
	settle := func(max int) int {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > max && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		return runtime.NumGoroutine()
	}
	_, err := rb.Run(ctx)
	require.NoError(t, err)
	baseG, baseS := settle(0), sessions()
	for i := 0; i < 20; i++ {
		_, err := rb.Run(ctx)
		require.NoError(t, err)
		// And one cut short by its context mid-run.
		cctx, cancel := context.WithTimeout(ctx, time.Duration(i)*time.Millisecond)
		_, _ = rb.Run(cctx)
		cancel()
	}
	g, s := settle(baseG), sessions()
	t.Logf("goroutines %d -> %d, sessions %d -> %d, pool %+v", baseG, g, baseS, s, b.db.Stats())
	require.LessOrEqual(t, g, baseG+2, "goroutines")
	require.LessOrEqual(t, s, baseS+2, "sessions")
	require.Zero(t, b.db.Stats().InUse, "connections in use")
}
