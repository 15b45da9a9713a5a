package withdrawal_test

import (
	"context"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// The operator's flow for a withdrawal's transfer the participant sent
// malformed, set aside under PoisonSetAside: the withdrawal is held (not
// expired) past its trecTgt. The operator applies its outcome by hand
// (ApplyOutcomeTx) and resolves the row (ResolveSetAsideTx) in one
// transaction. While that transaction is open, ingestion goes on
// unblocked and still expires nothing; rolled back, the row is still
// unresolved and the withdrawal still held; committed, the withdrawal is
// completed, never expired nor refunded. A rewind replays the malformed
// transfer: the row stays resolved, nothing is set aside again nor
// counted, and the withdrawal is unchanged.
func TestRV154OperatorResolvesMalformedTransferWhileIngesting(t *testing.T) {
	l, w, cids := requestedThenStopped(t, "wd-rv154")
	ctx := l.ctx
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
	nop := ingest.HandlerFunc(func(context.Context, *sqlx.Tx, *ingest.Batch) error { return nil })

	ing := runSetAside(t, l, nop)
	require.EqualValues(t, 1, ing.Stats().SetAside)
	aside, err := ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	require.Equal(t, transfer.UpdateID, aside[0].UpdateID)
	require.Equal(t, withdrawal.StatusRequested, l.get(w.ID).Status, "held while the row is unresolved")

	byHand := func(commit bool) {
		tx, err := l.db.BeginTxx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = l.store.ApplyOutcomeTx(ctx, tx, withdrawal.Outcome{ID: w.ID, Status: withdrawal.StatusCompleted,
			UpdateID: transfer.UpdateID, Offset: transfer.Offset, RecordTime: transfer.RecordTime,
			SynchronizerID: transfer.SynchronizerID, Instrument: w.Instrument, Receiver: w.Receiver, Transferred: w.Amount})
		require.NoError(t, err)
		require.NoError(t, ing.ResolveSetAsideTx(ctx, tx, transfer.UpdateID, "paid out: applied by hand"))

		// Ingestion goes on meanwhile, past the trecTgt again, and is not
		// blocked by the operator's open transaction.
		l.append(l.world.Mint(treasury, "3"))
		done := make(chan *ingest.Ingester, 1)
		go func() { done <- runSetAside(t, l, nop) }()
		select {
		case again := <-done:
			require.Zero(t, again.Stats().SetAside)
		case <-time.After(20 * time.Second):
			t.Fatal("ingestion blocked by the operator's open transaction")
		}
		require.Equal(t, withdrawal.StatusRequested, l.get(w.ID).Status, "expired while the operator's resolution was not committed")
		if commit {
			require.NoError(t, tx.Commit())
		}
	}
	byHand(false)
	aside, err = ing.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Len(t, aside, 1, "rolled back: still unresolved")
	l.append(l.world.Mint(treasury, "4"))
	runSetAside(t, l, nop)
	require.Equal(t, withdrawal.StatusRequested, l.get(w.ID).Status, "expired after the operator's transaction rolled back")
	require.Empty(t, refunds(t, l.db))

	byHand(true)
	l.append(l.world.Mint(treasury, "5"))
	runSetAside(t, l, nop)
	got := l.get(w.ID)
	require.Equal(t, withdrawal.StatusCompleted, got.Status)
	require.Equal(t, transfer.UpdateID, got.UpdateID)
	require.Empty(t, refunds(t, l.db))

	// A rewind to before the transfer: the malformed transfer is offered
	// again and set aside again, into the row the operator resolved.
	cp, found, err := l.cps.Get(ctx, l.db)
	require.NoError(t, err)
	require.True(t, found)
	require.NoError(t, recovery.Apply(ctx, l.db, &recovery.Rewind{Schema: schema.DefaultName, Mode: recovery.ModeNonUnique,
		From: cp.Offset, To: transfer.Offset - 1, LastUpdateID: cp.UpdateID, RecoveryTime: cp.RecordTime, SynchronizerID: cp.SynchronizerID}))
	replay := runSetAside(t, l, nop)
	require.Positive(t, replay.Stats().Skipped, "nothing was replayed")
	require.Zero(t, replay.Stats().SetAside, "a resolved row set aside again is counted again")
	aside, err = replay.SetAsideTransactions(ctx)
	require.NoError(t, err)
	require.Empty(t, aside, "the replay unresolved the row the operator resolved")
	got = l.get(w.ID)
	require.Equal(t, withdrawal.StatusCompleted, got.Status)
	require.Empty(t, refunds(t, l.db))
	var resolution string
	require.NoError(t, l.db.Get(&resolution, `SELECT resolution FROM txhistory.review_transaction WHERE update_id = $1`, transfer.UpdateID))
	require.Equal(t, "paid out: applied by hand", resolution)
}
