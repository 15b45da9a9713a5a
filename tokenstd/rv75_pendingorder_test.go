package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// PendingInstructions promises the open instructions oldest first. After a
// validator node restore the participant numbers new transactions from
// offsets below some already ingested (ListEntries' doc), so an offer made
// after the restore has a smaller created_offset than one made before it:
// ordered by offset, the exchange's service that works through the offers
// to the treasury oldest first (accepting each before its executeBefore)
// took the newest first.
func TestPendingInstructionsOldestFirstAfterANodeRestore(t *testing.T) {
	b := setupHistory(t)
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	older, olderCID := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
	newer, newerCID := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "6", Reason: "acct-2"})
	older, newer = ledgertest.TokenProjection(older, treasury), ledgertest.TokenProjection(newer, treasury)
	require.True(t, newer.RecordTime.After(older.RecordTime), "the second offer is the newer one")
	older.Offset = 1000 // ingested before the validator node restore
	newer.Offset = 600  // numbered by the restored node

	h := newHistory(t, tokenstd.Config{})
	require.NoError(t, b.handle(t, h, []*ledger.Transaction{older}, 1))
	require.NoError(t, b.handle(t, h, []*ledger.Transaction{newer}, 1))

	pending, err := tokenstd.PendingInstructions(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	var order []string
	for _, in := range pending {
		order = append(order, in.ContractID)
	}
	require.Equal(t, []string{olderCID, newerCID}, order,
		"PendingInstructions lists the offer made before the node restore (record time %s) first, oldest first",
		older.RecordTime)
}
