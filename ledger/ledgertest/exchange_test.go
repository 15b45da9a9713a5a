package ledgertest_test

// Tests written as an exchange's engineers use the fake in their own unit
// tests: only the exported API, from outside the package.

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

func updateIDs(txs []*ledger.Transaction) []string {
	out := make([]string, len(txs))
	for i, tx := range txs {
		out[i] = tx.UpdateID
	}
	return out
}

// A node restored with WithSynchronizersFirst processes the updates out of
// their sequence order; a backup of that node, restored later, must hold
// each update once and recover each update it lacks.
func TestBackupAfterReorderedRecoveryRestoresEachUpdateOnce(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	empty := p.Backup()
	_, err = p.Append(
		&ledger.Transaction{UpdateID: "a1", SynchronizerID: "sync-a"},
		&ledger.Transaction{UpdateID: "b1", SynchronizerID: "sync-b"},
		&ledger.Transaction{UpdateID: "a2", SynchronizerID: "sync-a"},
		&ledger.Transaction{UpdateID: "b2", SynchronizerID: "sync-b"},
	)
	require.NoError(t, err)

	p.Restore(empty, ledgertest.WithSynchronizersFirst("sync-b"))
	require.Equal(t, []string{"b1", "b2", "a1", "a2"}, updateIDs(p.Transactions()))
	backup := p.Backup()
	p.Restore(backup)
	require.Equal(t, []string{"b1", "b2", "a1", "a2"}, updateIDs(p.Transactions()),
		"the backup held every update: none is recovered again")

	// A backup taken in the middle of such a recovery lacks a1 (sequenced
	// before b2, which it holds): the restore recovers it.
	p.Restore(empty, ledgertest.WithSynchronizersFirst("sync-b"), ledgertest.WithCatchUp(true))
	require.Equal(t, 2, p.CatchUp(2))
	partial := p.Backup()
	p.Restore(partial)
	require.ElementsMatch(t, []string{"b1", "b2", "a1", "a2"}, updateIDs(p.Transactions()),
		"every update sequenced is processed once after the restore")
	require.Len(t, p.Transactions(), 4)
}

// An operation is one subtree of one transaction: the world applied its
// effects once, when it was built. Putting it into a second transaction (or
// twice into one) would put on the ledger a contract created twice, which
// no ledger can hold, and balances an ingester derives would no longer
// match the world's. The builders panic on such scripts.
func TestTokenOpCannotBeUsedTwice(t *testing.T) {
	w := &ledgertest.TokenWorld{}
	w.Mint("alice::1", "100")
	op := w.TransferOp(ledgertest.TransferSpec{Sender: "alice::1", Receiver: "treasury::1", Amount: "40"})
	w.Tx(op)
	require.PanicsWithValue(t, "ledgertest: Tx: the operation is already in a transaction: build a new one", func() { w.Tx(op) })

	twice := w.MintOp("bob::1", "5")
	require.PanicsWithValue(t, "ledgertest: Tx: the operation is already in a transaction: build a new one", func() { w.Tx(twice, twice) })

	wrapped := w.MintOp("carol::1", "5")
	w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: "carol::1"}, wrapped))
	require.PanicsWithValue(t, "ledgertest: Tx: the operation is already in a transaction: build a new one", func() { w.Tx(wrapped) })
}

// An exchange's test closes the fake while its Ingester tails it, and a
// second participant runs in the same test: Close returns promptly with the
// ingester's stream open (the ingester then retries against a closed port
// until its context ends), and the two participants share no ports,
// offsets, update ids or record times.
func TestCloseWithAnIngesterRunningAndTwoParticipants(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := pgtest.NewDB(t)
	require.NoError(t, schema.Migrate(ctx, db))
	start := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	p, err := ledgertest.New(ledgertest.WithStartTime(start))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	other, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(other.Close)
	require.NotEqual(t, p.Addr(), other.Addr())
	require.NotEqual(t, p.AdminAddr(), other.AdminAddr())

	h := ledgertest.TransferHistory{Treasury: "treasury::1220so"}
	txs, err := p.Append(h.Tx(0), h.Tx(1))
	require.NoError(t, err)
	otherTxs, err := other.Append(h.Tx(0))
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2}, []int64{txs[0].Offset, txs[1].Offset})
	require.Equal(t, []string{"upd-1", "upd-2"}, updateIDs(txs))
	require.Equal(t, start.Truncate(time.Microsecond), txs[0].RecordTime)
	require.Equal(t, start.Truncate(time.Microsecond).Add(time.Millisecond), txs[1].RecordTime)
	require.Equal(t, int64(1), otherTxs[0].Offset)
	require.Equal(t, "upd-1", otherTxs[0].UpdateID)
	require.Equal(t, ledgertest.DefaultStartTime, otherTxs[0].RecordTime)

	client, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true},
		Admin:     ledger.Endpoint{Target: p.AdminAddr(), Insecure: true},
	})
	require.NoError(t, err)
	defer client.Close()
	var mu sync.Mutex
	var seen []string
	ing, err := ingest.New(db, client, ingest.Config{
		Parties: []string{h.Treasury},
		Handler: ingest.HandlerFunc(func(_ context.Context, _ *sqlx.Tx, b *ingest.Batch) error {
			mu.Lock()
			defer mu.Unlock()
			for _, tx := range b.Transactions {
				seen = append(seen, tx.UpdateID)
			}
			return nil
		}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- ing.Run(runCtx) }()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 2
	}, 10*time.Second, 10*time.Millisecond)

	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with an Ingester tailing")
	}
	stopRun()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the Ingester did not stop after its context ended")
	}
	// The other participant is untouched.
	more, err := other.Append(h.Tx(1))
	require.NoError(t, err)
	require.Equal(t, int64(2), more[0].Offset)
	require.Equal(t, "upd-2", more[0].UpdateID)
}
