package recovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/internal/cutproxy"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// The recovery runbook's Plan, and the client's unary calls it makes on
// both APIs, through proxies that end every connection every few
// milliseconds: each Plan finds the same offRecovery as one without the
// proxies, and ingestion from it ends with the undisturbed history.
func TestRV148PlanAcrossConnectionCuts(t *testing.T) {
	steps := script(80, 45, 46, 47)
	ref := newBundle(t)
	play(t, ref.p, steps)
	ingestTo(t, ref, ref.p.LedgerEnd())
	want := readHistory(t, ref.db)

	b := newBundle(t)
	restoredAfter(t, b, steps, 30, "tx-00046")
	ctx := context.Background()
	direct, err := recovery.Plan(ctx, b.db, b.client, options(recovery.ModeNonUnique))
	require.NoError(t, err)

	api, apiCuts := cutproxy.Every(t, b.p.Addr(), 7*time.Millisecond)
	admin, adminCuts := cutproxy.Every(t, b.p.AdminAddr(), 5*time.Millisecond)
	c, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: api, Insecure: true},
		Admin:     ledger.Endpoint{Target: admin, Insecure: true},
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	start := time.Now()
	failed, plans := 0, 0
	for i := 0; time.Since(start) < 2*time.Second; i++ {
		plans++
		rw, err := recovery.Plan(ctx, b.db, c, options(recovery.ModeNonUnique))
		require.NoError(t, err, "plan %d", i)
		require.Equal(t, direct.To, rw.To, "plan %d: %s", i, rw)
		require.Equal(t, direct.LookupTime, rw.LookupTime)
		end, err := c.LedgerEnd(ctx)
		if err != nil {
			require.True(t, ledger.IsRetryable(err), "a unary call cut: %v", err)
			failed++
		} else {
			require.Equal(t, b.p.LedgerEnd(), end)
		}
	}
	t.Logf("%d plans, %d ledger ends cut; cuts: Ledger API %d, admin API %d", plans, failed, apiCuts(), adminCuts())
	require.Positive(t, apiCuts())
	require.Positive(t, adminCuts())

	require.NoError(t, recovery.Apply(ctx, b.db, direct))
	ingestTo(t, b, b.p.LedgerEnd())
	require.Equal(t, want, readHistory(t, b.db))
}
