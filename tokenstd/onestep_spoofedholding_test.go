package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A holding view is what the contract's template says about itself: any
// party can write a template implementing HoldingV1 whose view names the
// treasury as owner and Amulet of the DSO as instrument, create it with
// the treasury as a mere observer (no consent needed) and label its own
// choice tx-kind transfer with a reason of its choosing. Only the
// instrument's admin signing the contract makes it a holding of that
// instrument. Here mallory's own contract, signed by mallory alone, claims
// to hold 10 Amulet for the treasury: no deposit may be credited for it.
func TestHoldingNotSignedByItsAdminIsNoDeposit(t *testing.T) {
	const mallory = "mallory::1220ff"
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(mallory, "100")
	tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: mallory, Receiver: treasury, Amount: "10", Reason: "acct-mallory"}), treasury)
	tx = asRegistryChoice(tx, "Mallory_Send")
	editResult(t, tx, 0, []string{"meta"}, setTo(metadataValue(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: mallory, tokenstd.MetaReason: "acct-mallory"})))
	forged := 0
	for _, ev := range tx.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && viewOwner(t, c) == treasury {
			c.Signatories = []string{mallory} // neither the DSO nor the treasury signed it
			forged++
		}
	}
	require.Equal(t, 1, forged)

	es, err := tokenstd.Classify(tx, treasury, nil)
	require.NoError(t, err)
	for _, e := range es {
		require.NotContains(t, []tokenstd.Kind{tokenstd.KindDeposit, tokenstd.KindDepositUnassigned}, e.Kind,
			"mallory's own contract, not signed by %s, credited as a %s of %s %s for %q", e.Instrument.Admin, e.Kind, e.Amount, e.Instrument, e.Account)
		require.Empty(t, e.Created, "a holding not signed by its instrument's admin taken as the treasury's")
	}
	set := tokenstd.NewHoldingSet()
	set.Apply(es)
	require.Empty(t, set.Balances())
}

// A holding its view's admin did not sign is not the treasury's even when
// the treasury signed it: the treasury's authority is in scope in the body
// of any choice it exercises, which may be another party's code (see
// TestRV20TreasurySignedForgedHoldingIsNoDeposit). The price: a registry
// whose holdings the owner and a custodian sign, not the party its views
// name as the instrument's admin, gives no deposits.
func TestHoldingSignedByTheTreasuryNotItsAdminIsNoHolding(t *testing.T) {
	const custodian = "custodian::1220cc"
	const sender = "alice::1220aa"
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(sender, "100")
	tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: sender, Receiver: treasury, Amount: "10", Reason: "acct-7"}), treasury)
	signed := 0
	for _, ev := range tx.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && viewOwner(t, c) == treasury {
			c.Signatories = []string{custodian, treasury} // not the view's admin
			signed++
		}
	}
	require.Equal(t, 1, signed)
	es, err := tokenstd.Classify(tx, treasury, nil)
	require.NoError(t, err)
	for _, e := range es {
		require.NotContains(t, []tokenstd.Kind{tokenstd.KindDeposit, tokenstd.KindDepositUnassigned}, e.Kind, "entries %+v", es)
		require.Empty(t, e.Created, "entries %+v", es)
	}
}
