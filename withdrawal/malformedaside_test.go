package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A transaction the participant sends malformed (it cannot be decoded) is
// set aside by PoisonSetAside; it may be a withdrawal's transfer, so
// nothing may expire while it is unresolved. The Ingester writes its
// review row after the Handler has run on the rest of its batch: if a later
// transaction of that batch passes the withdrawal's trecTgt, the
// Reconciler's expiry does not see the row yet and expires, and refunds, a
// withdrawal whose transfer sits in that very transaction.
func TestMalformedTransferHoldsExpiryInItsOwnBatch(t *testing.T) {
	untilInOneBatch(t, "the malformed transfer and the late transaction", malformedAsideOnce)
}

func malformedAsideOnce(t *testing.T) bool {
	l, w, cids := requestedThenStopped(t, "wd-malformed")

	// An unrelated mint first: its batch commits slowly (below), so that
	// what follows it comes in one batch.
	l.append(l.world.Mint(treasury, "1"))

	// The withdrawal's transfer, before its trecTgt, as the participant
	// sends it malformed (nested deeper than the client decodes); then a
	// transaction recorded after the trecTgt.
	transfer := l.world.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "50",
		InputHoldings: cids, Reason: w.ID})
	deep := ledger.Int64(1)
	for range 150 {
		deep = ledger.List(deep)
	}
	for _, ev := range transfer.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok {
			c.CreateArguments = ledger.Record(nil, ledger.F("deep", deep))
			break
		}
	}
	transfer = l.append(transfer)[0]
	late := l.world.Mint(treasury, "2")
	late.RecordTime = w.TrecTgt.Add(time.Minute)
	late = l.append(late)[0]

	together := false
	first := true
	seen := ingest.HandlerFunc(func(_ context.Context, _ *sqlx.Tx, b *ingest.Batch) error {
		if first {
			// The ingester cuts a batch wherever the stream runs dry for a
			// moment (a loaded machine), but not while the batch before is
			// committing.
			first = false
			time.Sleep(300 * time.Millisecond)
		}
		for _, x := range b.Transactions {
			if x.UpdateID == late.UpdateID && b.FromOffset < transfer.Offset {
				together = true
			}
		}
		return nil
	})
	ing := runSetAside(t, l, seen)
	if !together {
		return false
	}
	aside, err := ing.SetAsideTransactions(l.ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, transfer.UpdateID, aside[0].UpdateID)
	got := l.get(w.ID)
	require.Equal(t, withdrawal.StatusRequested, got.Status,
		"the withdrawal's transfer is set aside for review, unresolved, yet the withdrawal is %s; refunds %v", got.Status, refunds(t, l.db))
	require.Empty(t, refunds(t, l.db))
	return true
}
