package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// The treasury offered bob 10 MAL (wd-m) while every instrument counted;
// then Amulet alone is listed. Bob rejects the offer, and mallory's
// registry (she is MAL's admin) writes the treasury as sender and the id of
// the treasury's Amulet withdrawal wd-a as reason into the reject's result.
// The stored offer of an instrument not listed must not let that result
// move wd-a (or, wd-a being submitted, halt ingestion on the illegal
// transition): wd-a stays submitted, and no entry names it.
func TestStoredOfferOfAnInstrumentNotListedMovesNoOtherWithdrawal(t *testing.T) {
	r, w, icid := storedOfferOfMAL(t)
	reject := w.Reject(icid)
	root := reject.Events[0].(*ledger.ExercisedEvent)
	require.Equal(t, tokenstd.ChoiceInstructionReject, root.Choice)
	editResult(t, reject, 0, []string{"meta"}, setTo(metadataValue(map[string]string{tokenstd.MetaReason: "wd-a", tokenstd.MetaSender: treasury})))
	r.append(reject)
	require.NoError(t, r.run(ingest.PoisonHalt), "the reject of an offer of an instrument not listed stopped ingestion")
	require.Equal(t, withdrawal.StatusSubmitted, r.withdrawalStatus("wd-a"),
		"the Amulet withdrawal moved by the reject of an offer of an instrument not listed")
	require.Zero(t, r.count(`SELECT count(*) FROM tokens.token_history WHERE withdrawal_id = 'wd-a'`),
		"an entry of an instrument not listed names wd-a")
}

// storedOfferOfMAL: the treasury holds 100 Amulet and 20 MAL (mallory's
// instrument), withdrawals wd-a (5 Amulet) and wd-m (10 MAL) are
// submitted, and the treasury's offer of 10 MAL to bob for wd-m is
// ingested, all while every instrument counts; then Amulet alone is
// listed. It returns the offer's instruction.
func storedOfferOfMAL(t *testing.T) (*rig, *ledgertest.TokenWorld, string) {
	r := newRig(t)
	w := &ledgertest.TokenWorld{}
	mal := tokenstd.Instrument{Admin: malloryInstrument.Admin, ID: malloryInstrument.ID}
	mint := w.MintOp(treasury, "100")
	r.append(w.Tx(mint), w.Mint(forger, "100", malloryInstrument))
	pay := w.Transfer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "20", Instrument: malloryInstrument})
	m := treasuryHolding(t, pay).ContractID
	r.append(pay)
	require.NoError(t, r.run(ingest.PoisonHalt))
	r.submitWithdrawal("wd-a", "5", amulet, mint.Created[0].ContractID, w)
	r.submitWithdrawal("wd-m", "10", mal, m, w)
	offer, icid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10", Reason: "wd-m",
		Instrument: malloryInstrument, InputHoldings: []string{m}})
	r.append(offer)
	require.NoError(t, r.run(ingest.PoisonHalt))
	require.Equal(t, withdrawal.StatusPendingAcceptance, r.withdrawalStatus("wd-m"))
	r.configure([]tokenstd.Instrument{amulet})
	return r, w, icid
}

// As above, mallory's registry returns a reject result that cannot be read
// (its output is text): the choice, on an offer of an instrument not
// listed, is ignored as the offer is; it does not halt ingestion, though
// the treasury acts below it (its locked MAL is returned).
func TestMalformedEndOfAStoredOfferOfAnInstrumentNotListedDoesNotHalt(t *testing.T) {
	r, w, icid := storedOfferOfMAL(t)
	reject := w.Reject(icid)
	editResult(t, reject, 0, []string{"output"}, setTo(ledger.Text("failed")))
	r.append(reject)
	r.append(w.Mint(alice, "100"))
	r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-3"}))
	require.NoError(t, r.run(ingest.PoisonHalt), "mallory's malformed reject result stopped the treasury's ingestion")
	require.Equal(t, r.p.LedgerEnd(), r.checkpoint())
	require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history
		WHERE kind = 'deposit' AND account = 'acct-3' AND amount = 7`), "alice's deposit after")
	require.Equal(t, withdrawal.StatusSubmitted, r.withdrawalStatus("wd-a"))
}
