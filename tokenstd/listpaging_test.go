package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// pageDeposits reads every deposit with ListEntries a page at a time:
// Limit n, then AfterSeq = the Seq of the last entry read.
func pageDeposits(t *testing.T, b *historyBundle, n int) []string {
	t.Helper()
	var accounts []string
	f := tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDeposit}, Limit: n}
	for pages := 0; pages < 10; pages++ {
		es, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, f)
		require.NoError(t, err)
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			accounts = append(accounts, e.Account)
		}
		f.AfterSeq = es[len(es)-1].Seq
	}
	return accounts
}

// A wallet batch pays two deposits, to acct-1 and acct-2, in one
// transaction: two deposit entries at the same offset. Paging through the
// deposits one at a time returns both: the page boundary falls inside the
// transaction (with AfterOffset, the only cursor there was, the second was
// never returned).
func TestListEntriesPagingWithinOneTransaction(t *testing.T) {
	b := setupHistory(t)
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	tx := w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: alice},
		w.TransferOp(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"}),
		w.TransferOp(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-2"})))
	require.NoError(t, b.handle(t, newHistory(t, tokenstd.Config{Credit: creditor()}),
		[]*ledger.Transaction{ledgertest.TokenProjection(tx, treasury)}, 1))

	all, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDeposit}})
	require.NoError(t, err)
	require.Len(t, all, 2, "both deposits are stored")

	require.Equal(t, []string{"acct-1", "acct-2"}, pageDeposits(t, b, 1),
		"paging through the deposits one at a time")
}

// After the validator node is restored from a backup, the participant
// gives the transactions it recovers, and every new one, new offsets,
// which can be below those ingested before (the same update keeps its id,
// not its offset). A deposit ingested after the restore then has a
// smaller ledger_offset than one ingested before it: a reader of the
// history that goes on from the offset of the last entry it read
// (AfterOffset, the only cursor ListEntries offered) never saw the new
// deposit, and ListEntries, which promises ingestion order, listed it
// first. The cursor is now Seq, in ingestion order.
func TestListEntriesAfterARestoreFindsNewDeposits(t *testing.T) {
	b := setupHistory(t)
	h := newHistory(t, tokenstd.Config{Credit: creditor()})
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	before := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"}), treasury)
	after := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-2"}), treasury)
	before.Offset = 1000 // ingested before the restore
	after.Offset = 600   // a new transaction, numbered by the restored node

	require.NoError(t, b.handle(t, h, []*ledger.Transaction{before}, 1))
	read, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDeposit}})
	require.NoError(t, err)
	require.Len(t, read, 1)
	cursor := read[0].Seq

	require.NoError(t, b.handle(t, h, []*ledger.Transaction{after}, 1))
	var credited int
	require.NoError(t, b.db.GetContext(b.ctx, &credited, `SELECT count(*) FROM public.credit`))
	require.Equal(t, 2, credited, "both deposits are credited")

	all, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDeposit}})
	require.NoError(t, err)
	var order []string
	for _, e := range all {
		order = append(order, e.Account)
	}
	next, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDeposit}, AfterSeq: cursor})
	require.NoError(t, err)
	var news []string
	for _, e := range next {
		news = append(news, e.Account)
	}
	require.Equal(t, []string{"acct-2"}, news, "the deposits after the last one read (AfterSeq %d); ingestion order: %v", cursor, order)
	require.Equal(t, []string{"acct-1", "acct-2"}, order, "ListEntries is not in ingestion order")
}
