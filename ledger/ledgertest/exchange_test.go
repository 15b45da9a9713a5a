package ledgertest_test

// Tests written as an exchange's engineers use the fake in their own unit
// tests: only the exported API, from outside the package.

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
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
