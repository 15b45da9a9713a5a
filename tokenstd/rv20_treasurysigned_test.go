package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The treasury's signature is no proof that a holding is real: Daml gives a
// choice's body the authority of its controllers. Mallory offers the
// treasury a transfer instruction of a template of her own whose view
// names the DSO's Amulet (nobody but mallory signed it: no instruction of
// the treasury's, for the classifier). The treasury's wallet accepts it
// (TransferInstruction_Accept, the treasury its controller); the body is
// mallory's code, which runs with the treasury's authority and creates a
// "holding" of 10 Amulet that the treasury and mallory sign. The DSO, the
// instrument's admin, signed nothing: no deposit may be credited for it.
func TestRV20TreasurySignedForgedHoldingIsNoDeposit(t *testing.T) {
	const mallory = "mallory::1220ff"
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(mallory, "100")
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: mallory, Receiver: treasury, Amount: "10", Reason: "acct-mallory"})
	offer = ledgertest.TokenProjection(offer, treasury)
	for _, ev := range offer.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok {
			c.Signatories = []string{mallory} // mallory's template, mallory's signature only
		}
	}
	accept := ledgertest.TokenProjection(w.Accept(cid), treasury)
	x := accept.Events[0].(*ledger.ExercisedEvent)
	require.Equal(t, "TransferInstruction_Accept", x.Choice)
	x.ActingParties = []string{treasury} // the treasury's authority is in scope below
	forged := 0
	for _, ev := range accept.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && viewOwner(t, c) == treasury {
			c.Signatories = []string{mallory, treasury} // authorised by the Accept's controller
			forged++
		}
	}
	require.Equal(t, 1, forged)

	es := classifyAfter(t, accept, offer)
	for _, e := range es {
		require.NotContains(t, []tokenstd.Kind{tokenstd.KindDeposit, tokenstd.KindDepositUnassigned}, e.Kind,
			"a holding made by mallory's code with the treasury's authority, not signed by %s, credited as a %s of %s %s for %q",
			e.Instrument.Admin, e.Kind, e.Amount, e.Instrument, e.Account)
		require.Empty(t, e.Created, "a holding not signed by its instrument's admin taken as the treasury's")
	}
}
