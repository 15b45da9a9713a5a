package tokenstd_test

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
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// Two treasury parties of one participant (hot and cold wallets), each
// ingested into a schema of its own in one database by an Ingester of its
// own, both running at once. A sweep from hot to cold is one transaction
// that is hot's withdrawal and cold's deposit: each schema must book its
// own side once, with the fee on the sender's. A transaction in which the
// hot treasury is only a witness (its wallet runs another sender's
// transfer to the cold treasury) books nothing in hot's schema and the
// deposit in cold's.
func TestRV123TwoTreasuriesOneDatabase(t *testing.T) {
	const (
		hot   = "hot::1220aa"
		cold  = "cold::1220bb"
		other = "customer::1220cc"
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	for _, s := range []string{"hot", "cold"} {
		require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema(s)))
	}

	var w ledgertest.TokenWorld
	txs := []*ledger.Transaction{
		w.Mint(hot, "100"),
		w.Mint(other, "40"),
		w.Transfer(ledgertest.TransferSpec{Sender: hot, Receiver: cold, Amount: "30", Fee: "0.5", Reason: "sweep"}),
		w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: hot},
			w.TransferOp(ledgertest.TransferSpec{Sender: other, Receiver: cold, Amount: "7", Reason: "acct-1"}))),
	}
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	txs, err = p.Append(txs...)
	require.NoError(t, err)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, tr := range []struct{ party, schema string }{{hot, "hot"}, {cold, "cold"}} {
		h, err := tokenstd.NewHistory(tokenstd.Config{Treasury: tr.party, Schema: tr.schema, Logger: quiet})
		require.NoError(t, err)
		ing, err := ingest.New(db, client, ingest.Config{Parties: []string{tr.party}, Schema: tr.schema, Handler: h,
			EndOffset: p.LedgerEnd(), Logger: quiet})
		require.NoError(t, err)
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = ing.Run(ctx) }()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	for _, tr := range []struct{ party, schema string }{{hot, "hot"}, {cold, "cold"}} {
		got, err := tokenstd.Balances(ctx, db, tr.schema)
		require.NoError(t, err)
		want := map[tokenstd.Instrument]decimal.Decimal{}
		for inst, amt := range w.Balances(tr.party) {
			want[toInstrument(inst)] = amt
		}
		requireSameAmounts(t, want, got, tr.schema+" balances")
	}
	type row struct {
		UpdateID string          `db:"update_id"`
		Kind     string          `db:"kind"`
		Amount   decimal.Decimal `db:"amount"`
		Fee      decimal.Decimal `db:"fee"`
		Party    string          `db:"counterparty"`
	}
	rows := func(s string) []string {
		var rs []row
		require.NoError(t, db.SelectContext(ctx, &rs, `SELECT update_id, kind, amount, fee, counterparty FROM `+
			schema.Qualify(s, tokenstd.HistoryTable)+` ORDER BY id`))
		var out []string
		for _, r := range rs {
			out = append(out, r.UpdateID+" "+r.Kind+" "+r.Amount.String()+" fee "+r.Fee.String()+" "+r.Party)
		}
		return out
	}
	sweep, wrapped := txs[2].UpdateID, txs[3].UpdateID
	require.Equal(t, []string{txs[0].UpdateID + " mint 100 fee 0 ", sweep + " withdrawal -30.5 fee 0.5 " + cold}, rows("hot"))
	require.Equal(t, []string{sweep + " deposit 30 fee 0 " + hot, wrapped + " deposit 7 fee 0 " + other}, rows("cold"))
}
