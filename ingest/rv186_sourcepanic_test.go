package ingest_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// panickingEnd is a Source of the exchange's (Source invites wrappers, to
// count or delay calls) whose LedgerEnd panics: a bug in its wrapper.
type panickingEnd struct{ *ledger.Client }

func (panickingEnd) LedgerEnd(context.Context) (int64, error) {
	panic("source wrapper: assignment to entry in nil map")
}

// A panic in the Source before the stream opens reaches Run's caller (a
// supervisor that recovers and runs the Ingester again, for months, with
// the process's long-lived context): Run must leave no goroutine behind,
// as it leaves no lock. The goroutine that ends the calls before the
// stream at Stop (untilStop) waited for a Stop or the end of ctx, neither
// of which comes, one more at every panic.
func TestRV186SourcePanicLeavesNoGoroutine(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 5)
	ctx, cancel := context.WithCancel(context.Background()) // the process's: it does not end
	defer cancel()
	_, err := b.client.LedgerEnd(ctx) // the client's connection up
	require.NoError(t, err)
	settle := func(max int) int {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > max && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		return runtime.NumGoroutine()
	}
	base := settle(0)
	const runs = 5
	for i := 0; i < runs; i++ {
		ing, err := ingest.New(b.db, panickingEnd{b.client}, ingest.Config{Parties: []string{treasury}, Handler: effectsHandler,
			Logger: quietLog, EndOffset: b.p.LedgerEnd()})
		require.NoError(t, err)
		var panicked any
		func() {
			defer func() { panicked = recover() }()
			_ = ing.Run(ctx)
		}()
		require.NotNil(t, panicked, "run %d: the Source's panic did not reach Run's caller", i)
	}
	if g := settle(base); g > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines grew from %d to %d over %d runs ended by the Source's panic\n%s", base, g, runs, buf[:runtime.Stack(buf, true)])
	}
	var locks int
	require.NoError(t, b.db.GetContext(ctx, &locks, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`))
	require.Zero(t, locks, "advisory locks left after the Source's panic")
}
