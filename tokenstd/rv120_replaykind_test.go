package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// TestReplayedDepositMayChangeKind: after an Integration DB restore a
// reader that kept its cursor meets what was ingested since the backup once
// more and drops what it has seen "by the entry's key (update id, node,
// kind and instrument)". The replay calls the DepositCrediter again, and its
// answer may differ from the first time (the account was created after the
// backup and the restore lost it, or it is kept outside the Integration DB
// and was created since): the same deposit comes back as
// deposit_unassigned (or the other way round), a key the reader has not
// seen, and a reader following the documented rule counts it twice. The
// docs now say to match deposit and deposit_unassigned as one.
func TestReplayedDepositMayChangeKind(t *testing.T) {
	b := setupHistory(t)
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	d := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-new"}), treasury)
	d.Offset = 101

	// Ingested after the backup, with the account known.
	require.NoError(t, b.handle(t, newHistory(t, tokenstd.Config{Credit: creditor()}), []*ledger.Transaction{d}, 1))
	seen, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	require.Len(t, seen, 1)
	require.Equal(t, tokenstd.KindDeposit, seen[0].Kind)

	// The restore: the backup holds neither the deposit nor the account.
	_, err = b.db.ExecContext(b.ctx, `DELETE FROM tokens.token_history; DELETE FROM tokens.token_holding; DELETE FROM public.credit`)
	require.NoError(t, err)
	require.NoError(t, tokenstd.RenumberAfterRestore(b.ctx, b.db, testSchema))
	require.NoError(t, b.handle(t, newHistory(t, tokenstd.Config{Credit: creditor("acct-new")}), []*ledger.Transaction{d}, 1))

	again, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{AfterSeq: seen[0].Seq})
	require.NoError(t, err)
	require.Len(t, again, 1)
	e := again[0]
	require.Equal(t, []any{seen[0].UpdateID, seen[0].NodeID, seen[0].Instrument}, []any{e.UpdateID, e.NodeID, e.Instrument},
		"the same deposit, by update id, node and instrument")
	require.Equal(t, tokenstd.KindDepositUnassigned, e.Kind, "replayed with the crediter's other answer: a key with another kind")
}
