package recovery_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// panickingLookup is a Participant of the exchange's that wraps a
// *ledger.Client (as Participant's doc invites) and panics in UpdateByID:
// a bug in its wrapper.
type panickingLookup struct{ *ledger.Client }

func (panickingLookup) UpdateByID(context.Context, string, ledger.Filter) (*ledger.Transaction, error) {
	panic("participant wrapper: assignment to entry in nil map")
}

// Packages looks transactions up from goroutines of its own. A panic of
// the exchange's Participant there must reach Packages' caller, as a
// sequential call's would (and as the Ingester's OnCommit panic reaches
// Run's), not end the process: the exchange's service, its Ingester with
// it, with no chance to recover. Nor may a look-up goroutine stay behind.
func TestRV186PackagesParticipantPanicReachesTheCaller(t *testing.T) {
	b := newBundle(t)
	play(t, b.p, script(8))
	ingestTo(t, b, b.p.LedgerEnd())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := b.client.LedgerEnd(ctx) // the client's connection up
	require.NoError(t, err)
	base := runtime.NumGoroutine()

	var panicked any
	func() {
		defer func() { panicked = recover() }()
		_, _ = recovery.Packages(ctx, b.db, panickingLookup{b.client}, ledgertest.DefaultStartTime,
			recovery.PackageOptions{Parties: []string{treasury}, Concurrency: 3})
	}()
	require.Equal(t, "participant wrapper: assignment to entry in nil map", panicked, "the Participant's panic, as Packages' caller sees it")

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines %d > %d after the panic\n%s", g, base, buf[:runtime.Stack(buf, true)])
	}
}

// goexitLookup ends its goroutine with runtime.Goexit: t.FailNow, or
// testify's require, in a test's Participant.
type goexitLookup struct{ *ledger.Client }

func (goexitLookup) UpdateByID(context.Context, string, ledger.Filter) (*ledger.Transaction, error) {
	runtime.Goexit()
	return nil, nil
}

// A look-up that ends its goroutine with runtime.Goexit fails Packages,
// rather than leave it feeding look-up goroutines that are gone until ctx
// ends (for ever under the process's context).
func TestRV186PackagesParticipantGoexitFailsPackages(t *testing.T) {
	b := newBundle(t)
	play(t, b.p, script(8))
	ingestTo(t, b, b.p.LedgerEnd())
	done := make(chan error, 1)
	go func() {
		_, err := recovery.Packages(context.Background(), b.db, goexitLookup{b.client}, ledgertest.DefaultStartTime,
			recovery.PackageOptions{Parties: []string{treasury}, Concurrency: 2})
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "runtime.Goexit")
	case <-time.After(10 * time.Second):
		t.Fatal("Packages did not return after its look-ups ended their goroutines with runtime.Goexit")
	}
}
