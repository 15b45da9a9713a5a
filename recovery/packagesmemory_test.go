package recovery_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// retaining is a Participant that notes which of the transactions it
// returned by update id are still reachable when the last look-up is made.
type retaining struct {
	recovery.Participant
	last      int64 // the look-up at which to count
	calls     atomic.Int64
	finalized atomic.Int64
	atLast    int64 // transactions collected by the last look-up
}

func (r *retaining) UpdateByID(ctx context.Context, updateID string, f ledger.Filter) (*ledger.Transaction, error) {
	tx, err := r.Participant.UpdateByID(ctx, updateID, f)
	if err == nil {
		runtime.SetFinalizer(tx, func(*ledger.Transaction) { r.finalized.Add(1) })
	}
	if r.calls.Add(1) == r.last {
		for range 3 {
			runtime.GC()
			time.Sleep(20 * time.Millisecond)
		}
		r.atLast = r.finalized.Load()
	}
	return tx, err
}

// Step 4 (Packages) reads back every transaction ingested since the
// backup, hundreds of thousands for a backup days old, to collect the
// package ids of their events. It must not hold every transaction, events
// and arguments, in memory until the last one has come: the runbook command
// would need memory in proportion to the whole history since the backup
// (gigabytes for a busy treasury) and be killed in step 4. What it keeps of
// a transaction is the few package and template ids it uses.
func TestPackagesDoesNotHoldTheTransactions(t *testing.T) {
	ctx := context.Background()
	b := newBundle(t)
	const n = 200
	play(t, b.p, script(n))
	ingestTo(t, b, b.p.LedgerEnd())

	r := &retaining{Participant: b.client}
	var ingested int
	require.NoError(t, b.db.Get(&ingested, `SELECT count(*) FROM txhistory.ingested_update`))
	r.last = int64(ingested)
	rep, err := recovery.Packages(ctx, b.db, r, ledgertest.DefaultStartTime, recovery.PackageOptions{Parties: []string{treasury}, Concurrency: 1})
	require.NoError(t, err)
	require.Equal(t, ingested, rep.Transactions)
	require.Len(t, rep.Packages, 1)
	require.Equal(t, ingested, rep.Packages[0].Transactions)
	require.Equal(t, int64(ingested), r.calls.Load())
	require.GreaterOrEqual(t, r.atLast, int64(ingested/2),
		"when the last of %d transactions was looked up, only %d of those before it could be collected: Packages holds them all", ingested, r.atLast)
}
