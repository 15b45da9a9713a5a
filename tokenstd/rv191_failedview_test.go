package tokenstd_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// adminSignedDeposit is alice's 1-step deposit of 40 USDX for acct-1 to
// the treasury, of a registry whose owners do not sign their holdings:
// the treasury's new holding is signed by the instrument's admin alone,
// the treasury its observer. failView makes the participant report that it
// could not compute that holding's Holding view (after a package upgrade,
// or on a restored node lacking the implementation's .dar), as the
// InterfaceView's view_status does. It returns the transaction and the
// holding's created event.
func adminSignedDeposit(t *testing.T, w *ledgertest.TokenWorld, failView bool) (*ledger.Transaction, *ledger.CreatedEvent) {
	t.Helper()
	inst := w.Instrument("USDX")
	tx := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "40", Reason: "acct-1", Instrument: inst})
	var got *ledger.CreatedEvent
	for _, c := range adminSigned(t, tx, inst.Admin, func(string) bool { return failView }) {
		require.Nil(t, got, "two holdings of the treasury")
		got = c
		if failView {
			v := &c.InterfaceViews[0]
			require.True(t, v.InterfaceID.SameEntity(ledger.HoldingInterface))
			v.ImplementationPackageID = ""
		}
	}
	require.NotNil(t, got, "no holding of the treasury in the deposit")
	return tx, got
}

// The treasury's deposit in a registry whose owners do not sign their
// holdings is read from the Holding view, signed by the instrument's
// admin: credited (the baseline the next test departs from).
func TestRV191AdminSignedDepositIsCredited(t *testing.T) {
	r := newRig(t)
	w := &ledgertest.TokenWorld{CantonIDs: true}
	r.append(w.Mint(alice, "100", w.Instrument("USDX")))
	tx, _ := adminSignedDeposit(t, w, false)
	r.append(tx)
	require.NoError(t, r.run(ingest.PoisonHalt))
	require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history WHERE kind = 'deposit' AND account = 'acct-1' AND amount = 40`))
}

// The same deposit, the participant reporting that it could not compute
// the treasury's new holding's Holding view. The transfer is the standard
// TransferFactory_Transfer to the treasury, its result naming that
// contract as the receiver's holding, signed by the transfer's instrument
// admin: a deposit whose amount cannot be read. It must stop ingestion
// (PoisonHalt) naming the offset, the update id and the contract, as a
// failed view of a holding the treasury signed does, not be booked as
// an "other" entry of 0 with nothing credited and the holding missing from
// the holding set.
func TestRV191FailedViewOfTheTreasurysReceivedHoldingHalts(t *testing.T) {
	// The classifier alone.
	w := &ledgertest.TokenWorld{Sequence: true, CantonIDs: true}
	w.Mint(alice, "100", w.Instrument("USDX"))
	tx, h := adminSignedDeposit(t, w, true)
	entries, err := tokenstd.Classify(ledgertest.TokenProjection(tx, treasury), treasury, nil)
	var pe *tokenstd.ParseError
	require.True(t, errors.As(err, &pe), "no ParseError for the failed view of the treasury's received holding; entries: %+v", entries)
	require.Equal(t, tx.UpdateID, pe.UpdateID)
	require.Equal(t, tx.Offset, pe.Offset)
	require.Contains(t, err.Error(), h.ContractID)
	require.Contains(t, err.Error(), "UNHANDLED_EXCEPTION")

	// Through the Ingester with History and the Reconciler.
	r := newRig(t)
	w = &ledgertest.TokenWorld{CantonIDs: true}
	r.append(w.Mint(alice, "100", w.Instrument("USDX")))
	require.NoError(t, r.run(ingest.PoisonHalt))
	cp := r.checkpoint()
	tx, h = adminSignedDeposit(t, w, true)
	bad := r.append(tx)[0]
	err = r.run(ingest.PoisonHalt)
	require.Error(t, err, "the deposit whose holding's view failed was ingested")
	requireNamesTx(t, err, bad)
	require.Contains(t, err.Error(), h.ContractID)
	require.Equal(t, cp, r.checkpoint(), "checkpoint moved past the unread deposit")
	require.Equal(t, 0, r.count(`SELECT count(*) FROM tokens.token_history WHERE update_id = '`+bad.UpdateID+`'`))
}

// The multi-step form: alice offers the treasury 40 USDX for acct-1 (the
// offer read, pending); the treasury accepts, and the participant could
// not compute the Holding view of the holding the accept gives it, signed
// by the instrument's admin alone. The accept's result names it as the
// receiver's holding: a deposit whose amount cannot be read, a ParseError
// naming the contract, not an instruction closed with nothing credited.
func TestRV191FailedViewOfTheHoldingAnAcceptGivesHalts(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true, CantonIDs: true}
	inst := w.Instrument("USDX")
	w.Mint(alice, "100", inst)
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "40", Reason: "acct-1", Instrument: inst})
	accept := ledgertest.TokenProjection(w.Accept(cid), treasury)
	var h *ledger.CreatedEvent
	for _, c := range adminSigned(t, accept, inst.Admin, func(string) bool { return true }) {
		require.Nil(t, h, "two holdings of the treasury")
		h = c
	}
	require.NotNil(t, h, "no holding of the treasury in the accept")

	set := tokenstd.NewHoldingSet()
	entries, err := tokenstd.Classify(ledgertest.TokenProjection(offer, treasury), treasury, set)
	require.NoError(t, err)
	set.Apply(entries)
	entries, err = tokenstd.Classify(accept, treasury, set)
	var pe *tokenstd.ParseError
	require.True(t, errors.As(err, &pe), "no ParseError for the failed view of the holding the accept gave the treasury; entries: %+v", entries)
	require.Equal(t, accept.UpdateID, pe.UpdateID)
	require.Equal(t, accept.Offset, pe.Offset)
	require.Contains(t, err.Error(), h.ContractID)
}

// adminSigned makes the treasury's holdings created in tx signed by the
// instrument's admin alone, the treasury their observer (a registry whose
// owners do not sign their holdings), the Holding view of the one whose
// contract id fail names failed on the participant. It returns the
// treasury's holdings it changed.
func adminSigned(t *testing.T, tx *ledger.Transaction, admin string, fail func(cid string) bool) []*ledger.CreatedEvent {
	t.Helper()
	var out []*ledger.CreatedEvent
	for _, ev := range tx.Events {
		c, ok := ev.(*ledger.CreatedEvent)
		if !ok || !slices.Contains(c.Signatories, treasury) {
			continue
		}
		out = append(out, c)
		c.Signatories = []string{admin}
		c.Observers = append(slices.Clone(c.Observers), treasury)
		if fail(c.ContractID) {
			v := &c.InterfaceViews[0]
			v.Value, v.StatusCode, v.StatusMessage = ledger.Value{}, 9, "UNHANDLED_EXCEPTION: the implementation's view failed"
		}
	}
	return out
}

// adminSignedMint is the treasury's mint of 100 of inst in w, its holding
// signed by the instrument's admin alone (adminSigned), classified into a
// new holding set; it returns the set and the mint's entries, applied to
// it.
func adminSignedMint(t *testing.T, w *ledgertest.TokenWorld, inst ledgertest.TokenInstrument) (*tokenstd.HoldingSet, []tokenstd.Entry) {
	t.Helper()
	mint := ledgertest.TokenProjection(w.Mint(treasury, "100", inst), treasury)
	require.Len(t, adminSigned(t, mint, inst.Admin, func(string) bool { return false }), 1)
	set := tokenstd.NewHoldingSet()
	entries, err := tokenstd.Classify(mint, treasury, set)
	require.NoError(t, err)
	set.Apply(entries)
	return set, entries
}

// The outgoing side: the treasury holds 100 USDX of such a registry and
// sends bob 30 (withdrawal wd-1, 1-step); the participant could not
// compute the Holding view of its change of 70, which the result names as
// the sender's change. Ignored, the withdrawal would be booked as costing
// the treasury 100, 70 of it a fee, and the change left out of the holding
// set: a ParseError naming the change's contract instead.
func TestRV191FailedViewOfTheTreasurysChangeHalts(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true, CantonIDs: true}
	inst := w.Instrument("USDX")
	set, entries := adminSignedMint(t, w, inst)
	require.Len(t, entries, 1)
	require.Equal(t, "100", entries[0].Amount.String(), "the admin-signed mint: %+v", entries)

	send := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "30", Reason: "wd-1", Instrument: inst}), treasury)
	changed := adminSigned(t, send, inst.Admin, func(string) bool { return true })
	require.Len(t, changed, 1, "the treasury's change")
	entries, err := tokenstd.Classify(send, treasury, set)
	var pe *tokenstd.ParseError
	require.True(t, errors.As(err, &pe), "no ParseError for the failed view of the treasury's change; entries: %+v", entries)
	require.Equal(t, send.UpdateID, pe.UpdateID)
	require.Equal(t, send.Offset, pe.Offset)
	require.Contains(t, err.Error(), changed[0].ContractID)
}

// The boundary of the check: mallory pays the treasury 5 of her own
// instrument through her TransferFactory, the holding she names in the
// result as the treasury's signed by her alone (its admin), its Holding
// view failing. With Config.Instruments listing Amulet only, her
// instrument is not counted: ignored, and ingestion goes on (with the
// default empty list such malformed data of any instrument halts, as
// doc.go says).
func TestRV191MallorysFailedViewInHerOwnInstrumentIsIgnoredWhenInstrumentsAreListed(t *testing.T) {
	r := newRig(t)
	w, _ := committedDeposit(t, r, ingest.PoisonHalt)
	r.configure([]tokenstd.Instrument{{Admin: w.Instrument().Admin, ID: w.Instrument().ID}})
	r.append(w.Mint(forger, "100", malloryInstrument))
	pay := w.Transfer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "5", Reason: "acct-9", Instrument: malloryInstrument})
	require.Len(t, adminSigned(t, pay, forger, func(string) bool { return true }), 1)
	r.append(pay)
	r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-3"}))
	require.NoError(t, r.run(ingest.PoisonHalt))
	require.Equal(t, r.p.LedgerEnd(), r.checkpoint())
	require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history WHERE kind = 'deposit' AND account = 'acct-3' AND amount = 7`))
}

// The treasury's own offer (a 2-step withdrawal: 30 USDX to bob, wd-2) in
// such a registry locks 30 in a holding of its own, signed by the
// instrument's admin, that no result names (senderChangeCids names the
// unlocked change). The participant could not compute that locked
// holding's Holding view: ignored, the offer would be booked as costing
// the treasury its whole input and the locked funds left out of the
// holding set. A contract created inside the treasury's own transfer,
// signed by the instrument's admin with the treasury a stakeholder, whose
// Holding view failed, is a ParseError naming it.
func TestRV191FailedViewOfTheTreasurysLockedHoldingHalts(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true, CantonIDs: true}
	inst := w.Instrument("USDX")
	set, _ := adminSignedMint(t, w, inst)

	offerTx, cid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "30", Reason: "wd-2", Instrument: inst})
	offer, ok := w.TransferOffer(cid)
	require.True(t, ok)
	require.NotEmpty(t, offer.Locked)
	tx := ledgertest.TokenProjection(offerTx, treasury)
	changed := adminSigned(t, tx, inst.Admin, func(c string) bool { return c == offer.Locked })
	require.True(t, slices.ContainsFunc(changed, func(c *ledger.CreatedEvent) bool { return c.ContractID == offer.Locked }),
		"the locked holding is not the treasury's (signed by it) in the builder's offer")
	entries, err := tokenstd.Classify(tx, treasury, set)
	var pe *tokenstd.ParseError
	require.True(t, errors.As(err, &pe), "no ParseError for the failed view of the treasury's locked holding; entries: %+v", entries)
	require.Equal(t, tx.UpdateID, pe.UpdateID)
	require.Contains(t, err.Error(), offer.Locked)
}
