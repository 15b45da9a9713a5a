package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/tokenstd"
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
	for attempt := 1; attempt <= 10; attempt++ {
		if malformedAsideOnce(t) {
			return
		}
		t.Logf("attempt %d: the malformed transfer and the late transaction came in two batches; again", attempt)
	}
	t.Fatal("the malformed transfer and the late transaction never came in one batch: nothing was tested")
}

func malformedAsideOnce(t *testing.T) bool {
	db := pgtest.NewDB(t)
	l := newLive(t, db, withdrawal.ReconcilerConfig{})
	cids := l.mint("100")
	l.startIngester()
	l.caughtUp()
	w, err := l.store.Create(l.ctx, l.request("wd-malformed", "50", cids[0]))
	require.NoError(t, err)
	l.stopIngester()

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

	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Logger: quietLog})
	require.NoError(t, err)
	rec, err := withdrawal.NewReconciler(l.store, withdrawal.ReconcilerConfig{History: history})
	require.NoError(t, err)
	together := false
	seen := ingest.HandlerFunc(func(_ context.Context, _ *sqlx.Tx, b *ingest.Batch) error {
		for _, x := range b.Transactions {
			if x.UpdateID == late.UpdateID && b.FromOffset < transfer.Offset {
				together = true
			}
		}
		return nil
	})
	ing, err := ingest.New(db, l.client, ingest.Config{Parties: []string{treasury},
		Handler: ingest.Handlers(history, rec, seen), Logger: quietLog, Poison: ingest.PoisonSetAside,
		MaxBatchSize: 64, MaxBatchDelay: 2 * time.Second, EndOffset: l.p.LedgerEnd()})
	require.NoError(t, err)
	require.NoError(t, ing.Run(l.ctx))
	if !together {
		return false
	}
	aside, err := ing.SetAsideTransactions(l.ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, transfer.UpdateID, aside[0].UpdateID)
	got := l.get(w.ID)
	require.Equal(t, withdrawal.StatusRequested, got.Status,
		"the withdrawal's transfer is set aside for review, unresolved, yet the withdrawal is %s; refunds %v", got.Status, refunds(t, db))
	require.Empty(t, refunds(t, db))
	return true
}
