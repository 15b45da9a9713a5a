package tokenstd_test

import (
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// A participant-local operation redone on a restored validator node (the
// recovery package's Limits: an ACS import made after the node backup, lost
// with the restore and imported again) re-creates the treasury's contracts
// under their old contract ids, in an update with a new update id and a
// record time it shares with the transaction before it. The Integration DB
// holds those holdings already, from the lost update: the History refuses
// the second create. Under PoisonHalt ingestion stops naming the update, its
// offset and the contract; under PoisonSetAside the update is set aside for
// review and ingestion goes on, the holding counted once. (What the docs of
// recovery and tokenstd say happens; passes.)
func TestRV189RedoneImportRecreatesStoredHoldings(t *testing.T) {
	for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
		t.Run(strconv.Itoa(int(policy)), func(t *testing.T) {
			b := setupHistory(t)
			p, err := ledgertest.New()
			require.NoError(t, err)
			t.Cleanup(p.Close)
			w := &ledgertest.TokenWorld{Sequence: true}
			mint := ledgertest.TokenProjection(w.Mint(treasury, "100"), treasury)
			var imported *ledger.CreatedEvent
			for _, e := range mint.Events {
				if c, ok := e.(*ledger.CreatedEvent); ok && c.Signatories != nil {
					imported = c
				}
			}
			require.NotNil(t, imported)
			w.Mint(alice, "50")
			d1 := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"}), treasury)
			d2 := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-1"}), treasury)
			d1.RecordTime, d2.RecordTime = d1.RecordTime.Add(1), d2.RecordTime.Add(2) // after the import's
			_, err = p.Append(&ledger.Transaction{UpdateID: "import-1", RecordTime: mint.RecordTime, Events: []ledger.Event{imported}}, d1)
			require.NoError(t, err)
			stored, err := p.Append(&ledger.Transaction{UpdateID: "import-2", RecordTime: p.Transactions()[1].RecordTime, Events: []ledger.Event{imported}}, d2)
			require.NoError(t, err)
			redo := stored[0]

			client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
			require.NoError(t, err)
			t.Cleanup(func() { _ = client.Close() })
			ing, err := ingest.New(b.db, client, ingest.Config{
				Parties: []string{treasury}, Schema: testSchema, Handler: newHistory(t, tokenstd.Config{Credit: creditor()}),
				EndOffset: p.LedgerEnd(), Poison: policy, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			require.NoError(t, err)
			err = ing.Run(b.ctx)

			if policy == ingest.PoisonHalt {
				require.Error(t, err)
				require.Contains(t, err.Error(), "import-2")
				require.Contains(t, err.Error(), strconv.FormatInt(redo.Offset, 10))
				require.Contains(t, err.Error(), imported.ContractID)
				require.Contains(t, err.Error(), "stored already")
				var credited int
				require.NoError(t, b.db.GetContext(b.ctx, &credited, `SELECT count(*) FROM public.credit WHERE update_id = $1`, stored[1].UpdateID))
				require.Zero(t, credited, "nothing after the redo is booked")
				return
			}
			holdings, herr := tokenstd.HoldingsByID(b.ctx, b.db, testSchema, []string{imported.ContractID})
			require.NoError(t, herr)
			require.Len(t, holdings, 1)
			require.Equal(t, "import-1", holdings[0].Created.UpdateID, "the holding is the lost update's")
			balances, berr := tokenstd.Balances(b.ctx, b.db, testSchema)
			require.NoError(t, berr)
			var total decimal.Decimal
			for _, v := range balances {
				total = total.Add(v)
			}
			require.NoError(t, err)
			aside, aerr := ing.SetAsideTransactions(b.ctx)
			require.NoError(t, aerr)
			require.Len(t, aside, 1)
			require.Equal(t, "import-2", aside[0].UpdateID)
			require.Contains(t, aside[0].Error, imported.ContractID)
			require.Equal(t, "112", total.String(), "the holding counted once, both deposits booked")
		})
	}
}
