package tokenstd_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A DepositCrediter that writes with tx and then finds the account unknown
// (it records the credit, then updates a balance row that is not there)
// returns ErrUnknownAccount: the deposit is recorded unassigned, for
// manual handling, but what the crediter wrote stays (nothing undoes it),
// so the deposit is on the exchange's books as credited and as unassigned:
// whoever handles the unassigned deposits credits it a second time. The
// DepositCrediter contract must say to return ErrUnknownAccount before
// writing anything.
func TestRV84UnknownAccountAfterAWriteIsDocumented(t *testing.T) {
	b := setupHistory(t)
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-99"}), treasury)
	h := newHistory(t, tokenstd.Config{Credit: tokenstd.CreditFunc(func(ctx context.Context, tx *sqlx.Tx, e *tokenstd.Entry) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO public.credit VALUES ($1, $2, $3, $4)`, e.UpdateID, e.NodeID, e.Account, e.Amount.String()); err != nil {
			return err
		}
		return tokenstd.ErrUnknownAccount // no balance row for e.Account
	})})
	require.NoError(t, b.handle(t, h, []*ledger.Transaction{tx}, 1))
	entries, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{Kinds: []tokenstd.Kind{tokenstd.KindDepositUnassigned}})
	require.NoError(t, err)
	require.Len(t, entries, 1, "the deposit is recorded unassigned")
	var credited int
	require.NoError(t, b.db.GetContext(b.ctx, &credited, `SELECT count(*) FROM public.credit`))
	require.Equal(t, 1, credited, "the crediter's write stays")

	src, err := os.ReadFile("history.go")
	require.NoError(t, err)
	doc := strings.Join(strings.Fields(strings.ReplaceAll(string(src), "//", "")), " ")
	_, doc, found := strings.Cut(doc, "DepositCrediter is the exchange's hook")
	require.True(t, found)
	doc, _, _ = strings.Cut(doc, "type DepositCrediter interface")
	require.Contains(t, doc, "before writing anything", "the DepositCrediter contract does not say that what it wrote before ErrUnknownAccount stays, crediting a deposit recorded as unassigned")
}
