package tokenstd_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// amulet is the default instrument of a ledgertest.TokenWorld: the one the
// exchange supports.
var amulet = tokenstd.Instrument{Admin: ledgertest.TokenDefaultAdmin, ID: ledgertest.TokenDefaultInstrumentID}

// instrumentAttacks are what mallory, the admin of instruments of her own,
// does to halt the treasury's ingestion; each appends its transactions and
// returns the one that halts it when every instrument counts.
var instrumentAttacks = []struct {
	name  string
	halts string // what the error says
	add   func(t *testing.T, r *rig, w *ledgertest.TokenWorld) *ledger.Transaction
}{
	{"malformed amount", "holding view: ledger: value at amount: negative amount", func(t *testing.T, r *rig, w *ledgertest.TokenWorld) *ledger.Transaction {
		r.append(w.Mint(forger, "100", malloryInstrument))
		tx := w.Transfer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "5", Reason: "acct-1", Instrument: malloryInstrument})
		h := treasuryHolding(t, tx)
		h.InterfaceViews[0].Value = editValue(t, h.InterfaceViews[0].Value, []string{"amount"}, setTo(ledger.Numeric("-5.0")))
		return r.append(tx)[0]
	}},
	{"NUL in the instrument id", "is not storable", func(t *testing.T, r *rig, w *ledgertest.TokenWorld) *ledger.Transaction {
		inst := ledgertest.TokenInstrument{Admin: forger, ID: "M\x00L"}
		r.append(w.Mint(forger, "100", inst))
		return r.append(w.Transfer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "5", Reason: "acct-1", Instrument: inst}))[0]
	}},
	{"3 kB instrument id", "token_holding_live_idx", func(t *testing.T, r *rig, w *ledgertest.TokenWorld) *ledger.Transaction {
		inst := ledgertest.TokenInstrument{Admin: forger, ID: randomText(3000)}
		r.append(w.Mint(forger, "100", inst))
		return r.append(w.Transfer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "5", Reason: "acct-1", Instrument: inst}))[0]
	}},
	{"two instructions closed for one amount", "which of them was done cannot be told", func(t *testing.T, r *rig, w *ledgertest.TokenWorld) *ledger.Transaction {
		// She offers the treasury 5 MAL twice, for acct-1 and acct-2,
		// then archives both offers in a choice of hers that says
		// tx-kind transfer and gives the treasury 5 MAL beside them:
		// which offer was done cannot be told.
		r.append(w.Mint(forger, "100", malloryInstrument))
		spec := ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "5", Instrument: malloryInstrument}
		spec.Reason = "acct-1"
		offer1, cid1 := w.Offer(spec)
		spec.Reason = "acct-2"
		offer2, cid2 := w.Offer(spec)
		r.append(offer1, offer2)
		spec.Reason = ""
		h := *treasuryHolding(t, w.Transfer(spec))
		h.NodeID = 3
		closeOffer := func(node int32, cid string) *ledger.ExercisedEvent {
			return &ledger.ExercisedEvent{NodeID: node, LastDescendantNodeID: node, ContractID: cid, TemplateID: forgedTemplate,
				Choice: "Mallory_Close", ChoiceArgument: ledger.Record(nil), ExerciseResult: ledger.Record(nil),
				Consuming: true, ActingParties: []string{forger}, WitnessParties: []string{treasury}}
		}
		return r.append(malloryTx(
			&ledger.ExercisedEvent{NodeID: 0, LastDescendantNodeID: 3, ContractID: "00malloryRULES", TemplateID: forgedTemplate,
				Choice: "Mallory_Settle", ChoiceArgument: ledger.Record(nil),
				ExerciseResult: ledger.Record(nil, ledger.F("meta", metadataValue(map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer}))),
				ActingParties:  []string{forger}, WitnessParties: []string{treasury}},
			closeOffer(1, cid1), closeOffer(2, cid2), &h))[0]
	}},
}

// Anyone can be the admin of an instrument of her own. Mallory sends the
// treasury holdings of hers signed by her as admin, whose view has a
// malformed amount, a NUL or a 3 kB instrument id, or closes two of her
// offers to the treasury for the same amount in a choice of hers: with
// every instrument counting (no Config.Instruments), each halts the
// treasury's ingestion, naming the transaction. With Config.Instruments
// listing Amulet, her instrument's data is ignored: ingestion goes on,
// alice's Amulet deposit after it is credited, and nothing of mallory's
// instrument is in the books.
func TestInstrumentsNotListedCannotHaltIngestion(t *testing.T) {
	for _, a := range instrumentAttacks {
		t.Run(a.name+"/every instrument", func(t *testing.T) {
			r := newRig(t)
			w, cp := committedDeposit(t, r, ingest.PoisonHalt)
			bad := a.add(t, r, w)
			err := r.run(ingest.PoisonHalt)
			require.GreaterOrEqual(t, r.checkpoint(), cp)
			require.Less(t, r.checkpoint(), bad.Offset, "checkpoint moved past an unapplied transaction")
			requireNamesTx(t, err, bad)
			require.ErrorContains(t, err, a.halts)
		})
		t.Run(a.name+"/Amulet listed", func(t *testing.T) {
			r := newRig(t)
			r.configure([]tokenstd.Instrument{amulet})
			w, _ := committedDeposit(t, r, ingest.PoisonHalt)
			a.add(t, r, w)
			r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-3"}))
			require.NoError(t, r.run(ingest.PoisonHalt), "mallory's %s stopped the treasury's ingestion", a.name)
			require.Equal(t, r.p.LedgerEnd(), r.checkpoint())
			require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history
				WHERE kind = 'deposit' AND account = 'acct-1' AND amount = 10`), "alice's deposit before")
			require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history
				WHERE kind = 'deposit' AND account = 'acct-3' AND amount = 7`), "alice's deposit after")
			for _, table := range []string{"token_history", "token_holding", "token_instruction"} {
				require.Zero(t, r.count(fmt.Sprintf(`SELECT count(*) FROM tokens.%s WHERE instrument_admin = '%s'`, table, forger)),
					"rows of mallory's instrument in %s", table)
			}
			require.Zero(t, r.count(`SELECT count(*) FROM tokens.review_transaction`), "transactions set aside")
		})
	}
}

// What is of a listed instrument is still read strictly: alice's Amulet
// deposit whose holding view has a negative amount halts ingestion,
// naming the transaction's offset and update id.
func TestMalformedHoldingOfAListedInstrumentStillHalts(t *testing.T) {
	r := newRig(t)
	r.configure([]tokenstd.Instrument{amulet})
	w, cp := committedDeposit(t, r, ingest.PoisonHalt)
	tx := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
	h := treasuryHolding(t, tx)
	h.InterfaceViews[0].Value = editValue(t, h.InterfaceViews[0].Value, []string{"amount"}, setTo(ledger.Numeric("-5.0")))
	bad := r.append(tx)[0]
	err := r.run(ingest.PoisonHalt)
	require.Equal(t, cp, r.checkpoint(), "checkpoint moved past an unapplied transaction")
	requireNamesTx(t, err, bad)
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe)
}

// withdrawalRequest is a withdrawal of amount of inst to bob, reserving
// holding, created and marked submitted.
func (r *rig) submitWithdrawal(id, amount string, inst tokenstd.Instrument, holding string, w *ledgertest.TokenWorld) {
	r.t.Helper()
	d := decimal.RequireFromString(amount)
	_, err := r.store.Create(r.b.ctx, withdrawal.Request{ID: id, UserAccount: "user-" + id, Amount: d, Instrument: inst,
		Receiver: bob, ReservedHoldings: []string{holding}, ReservedFunds: d.Add(decimal.NewFromInt(1)),
		TrecTgt: w.Now().Add(240 * time.Hour)})
	require.NoError(r.t, err)
	_, err = r.store.MarkSubmitted(r.b.ctx, id)
	require.NoError(r.t, err)
}

func (r *rig) withdrawalStatus(id string) withdrawal.Status {
	r.t.Helper()
	wd, err := r.store.Get(r.b.ctx, id)
	require.NoError(r.t, err)
	return wd.Status
}

// A genuine Amulet flow — a 1-step deposit, a 1-step withdrawal with a
// fee, a multi-step offer accepted — is booked identically whether every
// instrument counts or Amulet is listed.
func TestListedInstrumentsBookAGenuineFlowAsBefore(t *testing.T) {
	books := func(t *testing.T, instruments []tokenstd.Instrument) string {
		r := newRig(t)
		r.configure(instruments)
		w := &ledgertest.TokenWorld{}
		mint := w.MintOp(treasury, "100")
		r.append(w.Mint(alice, "1000"), w.Tx(mint))
		r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"}))
		require.NoError(t, r.run(ingest.PoisonHalt))
		r.submitWithdrawal("wd-1", "5", amulet, mint.Created[0].ContractID, w)
		r.append(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "5", Reason: "wd-1", Fee: "0.5",
			InputHoldings: []string{mint.Created[0].ContractID}}))
		offer, icid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-2"})
		r.append(offer, w.Accept(icid))
		require.NoError(t, r.run(ingest.PoisonHalt))
		require.Equal(t, withdrawal.StatusCompleted, r.withdrawalStatus("wd-1"))
		require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history
			WHERE kind = 'withdrawal' AND withdrawal_id = 'wd-1' AND transferred = 5 AND fee = 0.5`), "wd-1")
		require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history
			WHERE kind = 'deposit' AND account = 'acct-2' AND amount = 20`), "the accepted offer")
		var rows []string
		require.NoError(t, r.b.db.SelectContext(r.b.ctx, &rows, `SELECT concat_ws('|', ledger_offset, node_id, kind, instrument_admin,
			instrument_id, amount, transferred, fee, sender, receiver, counterparty, reason, account, withdrawal_id, instruction_cid,
			holdings_created, holdings_archived) FROM tokens.token_history ORDER BY id`))
		var holdings []string
		require.NoError(t, r.b.db.SelectContext(r.b.ctx, &holdings, `SELECT concat_ws('|', contract_id, amount, archived_offset)
			FROM tokens.token_holding ORDER BY contract_id`))
		return strings.Join(rows, "\n") + "\n--\n" + strings.Join(holdings, "\n")
	}
	every := books(t, nil)
	listed := books(t, []tokenstd.Instrument{amulet})
	require.Equal(t, every, listed)
	t.Logf("books:\n%s", every)
	require.Equal(t, 5, strings.Count(every[:strings.Index(every, "\n--\n")], "\n")+1, "history rows:\n%s", every)
}

// The Reconciler completes and fails withdrawals from History's entries.
// Withdrawals of mallory's instrument requested while every instrument
// counted (the treasury held some of it) are submitted; then Amulet alone
// is listed. The treasury's Amulet withdrawal completes; its transfer of
// mallory's instrument for wd-m1 and its offer for wd-m2, which bob
// rejects, complete and fail nothing: no entry of that instrument moves a
// withdrawal.
func TestWithdrawalsOfAnInstrumentNotListed(t *testing.T) {
	r := newRig(t)
	w := &ledgertest.TokenWorld{}
	mal := tokenstd.Instrument{Admin: malloryInstrument.Admin, ID: malloryInstrument.ID}
	mint := w.MintOp(treasury, "100")
	r.append(w.Tx(mint), w.Mint(forger, "100", malloryInstrument))
	pay1 := w.Transfer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "20", Instrument: malloryInstrument})
	pay2 := w.Transfer(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "10", Instrument: malloryInstrument})
	m1, m2 := treasuryHolding(t, pay1).ContractID, treasuryHolding(t, pay2).ContractID
	r.append(pay1, pay2)
	require.NoError(t, r.run(ingest.PoisonHalt))
	r.submitWithdrawal("wd-a", "5", amulet, mint.Created[0].ContractID, w)
	r.submitWithdrawal("wd-m1", "20", mal, m1, w)
	r.submitWithdrawal("wd-m2", "10", mal, m2, w)

	r.configure([]tokenstd.Instrument{amulet})
	r.append(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "5", Reason: "wd-a", Fee: "0.5",
		InputHoldings: []string{mint.Created[0].ContractID}}))
	r.append(w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "20", Reason: "wd-m1",
		Instrument: malloryInstrument, InputHoldings: []string{m1}}))
	offer, icid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10", Reason: "wd-m2",
		Instrument: malloryInstrument, InputHoldings: []string{m2}})
	r.append(offer, w.Reject(icid))
	require.NoError(t, r.run(ingest.PoisonHalt))
	require.Equal(t, withdrawal.StatusCompleted, r.withdrawalStatus("wd-a"))
	require.Equal(t, withdrawal.StatusSubmitted, r.withdrawalStatus("wd-m1"), "completed by a transfer of an instrument not listed")
	require.Equal(t, withdrawal.StatusSubmitted, r.withdrawalStatus("wd-m2"), "failed by an instrument not listed")
	require.Zero(t, r.count(`SELECT count(*) FROM tokens.token_history WHERE withdrawal_id LIKE 'wd-m%'`))
}

// NewHistory refuses a listed instrument without an admin or an id.
func TestConfigInstrumentsValidated(t *testing.T) {
	for _, inst := range []tokenstd.Instrument{{Admin: "", ID: "Amulet"}, {Admin: "DSO::1220", ID: ""}} {
		_, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Instruments: []tokenstd.Instrument{amulet, inst}})
		require.ErrorContains(t, err, "Config.Instruments[1]")
		require.ErrorContains(t, err, "admin party and the id are required")
	}
	_, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Instruments: []tokenstd.Instrument{amulet}})
	require.NoError(t, err)
}
