package withdrawal_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// Under PoisonSetAside a batch that a handler rejects is handled again one
// transaction at a time. Each of those one-transaction batches must carry
// the record time reached at its own transaction, not the whole batch's:
// otherwise the Reconciler expires, and refunds, a withdrawal whose
// transfer comes later in the same batch.
func TestSplitBatchDoesNotExpireAWithdrawalPaidLaterInIt(t *testing.T) {
	// splitOnce's slow first batch makes the transfer and the late
	// transaction come in one batch, and a few attempts make sure of it.
	untilInOneBatch(t, "the transfer and the late transaction", splitOnce)
}

// splitOnce plays the scenario on a database of its own and reports
// whether the transfer, after some other transaction, and the late
// transaction came in one batch (the one-transaction batch of that other
// transaction expires the withdrawal unless it carries its own record
// time).
func splitOnce(t *testing.T) bool {
	l, w, cids := requestedThenStopped(t, "wd-split")

	// One batch: unrelated mints, the withdrawal's transfer (before its
	// trecTgt), and a transaction that a later handler rejects, recorded
	// after the trecTgt.
	for range 3 {
		l.append(l.world.Mint(treasury, "1"))
	}
	transfer := l.append(l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "50",
		InputHoldings: cids, Reason: w.ID}))[0]
	late := l.world.Mint(treasury, "2")
	late.RecordTime = w.TrecTgt.Add(time.Minute)
	late = l.append(late)[0]

	var together bool // the transfer, after some other transaction, and the late one came in one batch
	first := true
	rejectLate := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
		if first {
			// The ingester cuts a batch wherever the stream runs dry for a
			// moment, but not while the batch before is committing: a
			// slow first batch has the rest come in one.
			first = false
			time.Sleep(300 * time.Millisecond)
		}
		ids := map[string]int{}
		for i, x := range b.Transactions {
			ids[x.UpdateID] = i + 1
		}
		if ids[transfer.UpdateID] > 1 && ids[late.UpdateID] > 0 {
			together = true
		}
		if ids[late.UpdateID] > 0 {
			return fmt.Errorf("cannot apply %s", late.UpdateID)
		}
		return nil
	})
	ing := runSetAside(t, l, rejectLate)
	if !together {
		return false // the ingester cut the batch between them: nothing to see
	}

	aside, err := ing.SetAsideTransactions(l.ctx)
	require.NoError(t, err)
	var asideIDs []string
	for _, a := range aside {
		asideIDs = append(asideIDs, a.UpdateID+": "+a.Error)
	}
	require.Equal(t, []string{late.UpdateID + ": cannot apply " + late.UpdateID}, asideIDs)
	got := l.get(w.ID)
	require.Equal(t, withdrawal.StatusCompleted, got.Status,
		"the transfer paid out 50, yet the withdrawal is %s; refunds %v", got.Status, refunds(t, l.db))
	require.Empty(t, refunds(t, l.db))
	return true
}
