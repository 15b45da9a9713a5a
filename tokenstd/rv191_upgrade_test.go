package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// upgradeImplementation rewrites tx as a participant sends it once the
// registry's implementation package (same package name) is upgraded from
// package id old to new: the templates of its exercises and creates name
// new, and the views are computed by new (implementation_package_id). The
// token standard interface packages, which are not upgraded, keep their
// ids. The amounts of the holding views are rendered with the given
// number of decimals (-1: as Daml renders a Numeric 0, "40.").
func upgradeImplementation(t *testing.T, tx *ledger.Transaction, old, new string, decimals int) {
	t.Helper()
	for _, ev := range tx.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			if e.TemplateID.PackageID == old {
				e.TemplateID.PackageID = new
			}
			for i := range e.InterfaceViews {
				v := &e.InterfaceViews[i]
				if v.ImplementationPackageID == old {
					v.ImplementationPackageID = new
				}
				if !v.InterfaceID.SameEntity(ledger.HoldingInterface) {
					continue
				}
				a, ok := v.Value.Field("amount")
				require.True(t, ok)
				s, err := a.AsNumeric()
				require.NoError(t, err)
				d, err := decimal.NewFromString(s)
				require.NoError(t, err)
				text := d.StringFixed(int32(max(decimals, 0)))
				if decimals < 0 {
					require.True(t, d.IsInteger(), "amount %s", s)
					text = d.String() + "."
				}
				v.Value = editValue(t, v.Value, []string{"amount"}, setTo(ledger.Numeric(text)))
			}
		case *ledger.ExercisedEvent:
			if e.TemplateID.PackageID == old {
				e.TemplateID.PackageID = new
			}
		case *ledger.ArchivedEvent:
			if e.TemplateID.PackageID == old {
				e.TemplateID.PackageID = new
			}
		}
	}
}

// A registry upgrades its implementation package while the treasury holds
// its tokens (smart contract upgrading: one package name, two package ids
// live at once). Alice deposits 40 for acct-1 under the old package; the
// treasury then withdraws 25 (wd-1, fee 0.5) spending that holding under
// the new one, whose views render amounts with 20 decimals; alice deposits
// 7 for acct-2 under the new one, its view's amount rendered "7.". Ids as
// long as a Canton participant's. Through the Ingester with History and
// the Reconciler: both deposits credited, the withdrawal booked with its
// fee, the balance exact (40 − 25.5 + 7).
func TestRV191UpgradedImplementationPackageKeepsTheBooks(t *testing.T) {
	r := newRig(t)
	w := &ledgertest.TokenWorld{CantonIDs: true}
	r.append(w.Mint(alice, "100"))
	dep := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "40", Reason: "acct-1"})
	var old string
	for _, ev := range dep.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok {
			old = c.TemplateID.PackageID
			require.Equal(t, "splice-amulet", c.PackageName)
		}
	}
	require.Len(t, old, 64)
	upgraded := ledgertest.CantonID("", "splice-amulet 0.1.99")
	r.append(dep)
	require.NoError(t, r.run(ingest.PoisonHalt))

	wd := w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "25", Fee: "0.5", Reason: "wd-1"})
	upgradeImplementation(t, wd, old, upgraded, 20)
	dep2 := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-2"})
	upgradeImplementation(t, dep2, old, upgraded, -1)
	r.append(wd, dep2)
	require.NoError(t, r.run(ingest.PoisonHalt))
	require.Equal(t, r.p.LedgerEnd(), r.checkpoint())

	entries, err := tokenstd.ListEntries(r.b.ctx, r.b.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	type row struct{ kind, key, amount, transferred, fee string }
	var got []row
	for _, e := range entries {
		got = append(got, row{string(e.Kind), e.Account + e.WithdrawalID, e.Amount.String(), e.Transferred.String(), e.Fee.String()})
	}
	require.Equal(t, []row{
		{"deposit", "acct-1", "40", "40", "0"},
		{"withdrawal", "wd-1", "-25.5", "25", "0.5"},
		{"deposit", "acct-2", "7", "7", "0"},
	}, got)
	bal, err := tokenstd.Balances(r.b.ctx, r.b.db, testSchema)
	require.NoError(t, err)
	require.Len(t, bal, 1)
	for _, b := range bal {
		require.Equal(t, "21.5", b.String())
	}
}
