package tokenstd_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// committedDeposit appends a good deposit and ingests it; it returns the
// world and the checkpoint.
func committedDeposit(t *testing.T, r *rig, policy ingest.PoisonPolicy) (*ledgertest.TokenWorld, int64) {
	t.Helper()
	w := &ledgertest.TokenWorld{}
	r.append(w.Mint(alice, "1000"))
	r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"}))
	require.NoError(t, r.run(policy))
	cp := r.checkpoint()
	require.Equal(t, r.p.LedgerEnd(), cp)
	return w, cp
}

func requireNamesTx(t *testing.T, err error, tx *ledger.Transaction) {
	t.Helper()
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, fmt.Sprint(tx.Offset), "error does not name the offset: %s", msg)
	id := tx.UpdateID
	if len(id) > 40 {
		id = id[:40] // a prefix is enough to find it
	}
	require.True(t, strings.Contains(msg, id) || strings.Contains(msg, strconv.Quote(id)), "error does not name the update id %q: %.600q", id, msg)
}

// A deposit of an instrument whose id is too long for the token_holding
// index: the database refuses it. Under PoisonHalt Run must stop naming
// the transaction's offset and update id.
func TestE2ELongInstrumentIDHaltNamesUpdateID(t *testing.T) {
	r := newRig(t)
	w, cp := committedDeposit(t, r, ingest.PoisonHalt)
	inst := w.Instrument(randomText(3000))
	r.append(w.Mint(alice, "100", inst))
	bad := r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1", Instrument: inst}))[0]
	err := r.run(ingest.PoisonHalt)
	t.Logf("Run: %.400s", err)
	require.Equal(t, cp, r.checkpoint(), "checkpoint moved past an unapplied transaction")
	requireNamesTx(t, err, bad)
}

// A Daml Numeric has at most 37 decimals; ParseDecimal only counts
// significant digits, so an amount with 17,000 decimals passes parsing and
// PostgreSQL refuses it. Run must stop naming the offset and update id.
func TestE2EHugeScaleAmountHaltNamesUpdateID(t *testing.T) {
	r := newRig(t)
	w, cp := committedDeposit(t, r, ingest.PoisonHalt)
	tx := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
	h := treasuryHolding(t, tx)
	h.InterfaceViews[0].Value = editValue(t, h.InterfaceViews[0].Value, []string{"amount"},
		setTo(ledger.Numeric("0."+strings.Repeat("0", 17000)+"1")))
	bad := r.append(tx)[0]
	err := r.run(ingest.PoisonHalt)
	t.Logf("Run: %.300s", err)
	require.Equal(t, cp, r.checkpoint())
	requireNamesTx(t, err, bad)
}

// An amount with more decimals than a Daml Numeric can have (40) is bad
// input: it must not be stored as if valid.
func TestE2ETooManyDecimalsRejected(t *testing.T) {
	r := newRig(t)
	w, cp := committedDeposit(t, r, ingest.PoisonHalt)
	tx := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
	h := treasuryHolding(t, tx)
	amt := "0." + strings.Repeat("0", 39) + "5"
	h.InterfaceViews[0].Value = editValue(t, h.InterfaceViews[0].Value, []string{"amount"}, setTo(ledger.Numeric(amt)))
	bad := r.append(tx)[0]
	err := r.run(ingest.PoisonHalt)
	n := r.count(`SELECT count(*) FROM tokens.token_holding WHERE amount = '` + amt + `'::numeric`)
	t.Logf("Run: %v; holdings stored with amount %s: %d; checkpoint %d -> %d", err, amt, n, cp, r.checkpoint())
	require.Zero(t, n, "a 40-decimal amount was stored as a holding")
	requireNamesTx(t, err, bad)
}

// Under PoisonSetAside a token transaction whose text holds a NUL byte
// (History rejects it as unstorable: here the id of the instrument its
// admin signed, as a metadata NUL no longer is) must be set aside, not
// stop Run: the review row's raw column is jsonb, which refuses \u0000.
func TestE2ENULSetAside(t *testing.T) {
	r := newRig(t)
	w, cp := committedDeposit(t, r, ingest.PoisonSetAside)
	inst := w.Instrument("NUL\x00x")
	r.append(w.Mint(alice, "100", inst))
	bad := r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1", Instrument: inst}))[0]
	good := r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-2"}))[0]
	err := r.run(ingest.PoisonSetAside)
	t.Logf("Run: %v; checkpoint %d -> %d", err, cp, r.checkpoint())
	require.NoError(t, err, "PoisonSetAside stopped on a transaction it should set aside")
	require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.review_transaction WHERE update_id = '`+bad.UpdateID+`'`))
	require.Equal(t, good.Offset, r.checkpoint())
}

// Two transactions create the same treasury holding contract id: refused,
// naming the second, whether they come in one batch (the holding set
// knows the first) or in two (the database does).
func TestE2EDuplicateHoldingCIDAcrossTransactions(t *testing.T) {
	dup := func(r *rig) (*ledger.Transaction, *ledger.Transaction) {
		w := &ledgertest.TokenWorld{}
		r.append(w.Mint(alice, "1000"))
		tx1 := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"})
		tx2 := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "30", Reason: "acct-2"})
		treasuryHolding(t, tx2).ContractID = treasuryHolding(t, tx1).ContractID
		stored := r.append(tx1, tx2)
		return stored[0], stored[1]
	}
	t.Run("one batch", func(t *testing.T) {
		r := newRig(t)
		tx1, tx2 := dup(r)
		sqlTx, err := r.b.db.BeginTxx(r.b.ctx, nil)
		require.NoError(t, err)
		defer sqlTx.Rollback()
		batch := &ingest.Batch{Transactions: []*ledger.Transaction{tx1, tx2}, FromOffset: tx1.Offset - 1, ToOffset: tx2.Offset,
			RecordTimes: map[string]time.Time{tx2.SynchronizerID: tx2.RecordTime}}
		err = r.handler.HandleBatch(r.b.ctx, sqlTx, batch)
		require.ErrorContains(t, err, "was created before, by update "+tx1.UpdateID)
		requireNamesTx(t, err, tx2)
	})
	t.Run("through the Ingester", func(t *testing.T) {
		r := newRig(t)
		_, tx2 := dup(r)
		err := r.run(ingest.PoisonHalt)
		requireNamesTx(t, err, tx2)
		var hist, hold string
		require.NoError(t, r.b.db.GetContext(r.b.ctx, &hist, `SELECT coalesce(sum(amount),0)::text FROM tokens.token_history`))
		require.NoError(t, r.b.db.GetContext(r.b.ctx, &hold, `SELECT coalesce(sum(amount),0)::text FROM tokens.token_holding WHERE archived_offset IS NULL`))
		require.Equal(t, hist, hold, "the history agrees with the live holdings")
	})
}

// A transfer instruction contract id created again by a later transaction
// is dropped silently (ON CONFLICT DO NOTHING) while its history entry is
// stored.
func TestE2EDuplicateInstructionCID(t *testing.T) {
	r := newRig(t)
	w := &ledgertest.TokenWorld{}
	r.append(w.Mint(alice, "1000"))
	offer1, cid1 := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"})
	r.append(offer1)
	require.NoError(t, r.run(ingest.PoisonHalt))
	cp := r.checkpoint()

	offer2, cid2 := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-2"})
	for _, ev := range offer2.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == cid2 {
			c.ContractID = cid1
		}
	}
	bad := r.append(offer2)[0]
	err := r.run(ingest.PoisonHalt)
	var amount string
	require.NoError(t, r.b.db.GetContext(r.b.ctx, &amount, `SELECT amount::text FROM tokens.token_instruction WHERE contract_id = $1`, cid1))
	hist := r.count(`SELECT count(*) FROM tokens.token_history WHERE update_id = '` + bad.UpdateID + `'`)
	t.Logf("Run: %v; checkpoint %d -> %d; instruction %s amount %s; history rows of the duplicate: %d", err, cp, r.checkpoint(), cid1, amount, hist)
	require.Error(t, err, "instruction contract id %s created again by update %s at offset %d was accepted silently", cid1, bad.UpdateID, bad.Offset)
	requireNamesTx(t, err, bad)
	require.Equal(t, cp, r.checkpoint(), "checkpoint moved past an unapplied transaction")
	require.Equal(t, "10", amount, "the stored instruction was changed")
	require.Zero(t, hist, "the duplicate's history was stored")
}

// A transaction whose update id is too long for the dedup table's primary
// key index. Under PoisonSetAside it must be set aside (or, if it cannot
// be, Run must stop naming it); it stops with an error from the dedup
// claim instead, which names neither policy's way out.
func TestE2ELongUpdateIDSetAside(t *testing.T) {
	r := newRig(t)
	w, cp := committedDeposit(t, r, ingest.PoisonSetAside)
	tx := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
	tx.UpdateID = "upd-long-" + randomText(3000)
	bad := r.append(tx)[0]
	good := r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-2"}))[0]
	err := r.run(ingest.PoisonSetAside)
	t.Logf("Run: %.300s; checkpoint %d -> %d", err, cp, r.checkpoint())
	require.NoError(t, err, "PoisonSetAside stopped at update %.20s... offset %d", bad.UpdateID, bad.Offset)
	require.Equal(t, good.Offset, r.checkpoint())
	requireSetAsideAlone(t, r, bad, fmt.Sprintf("offset:%d", bad.Offset), good)
}

// requireSetAsideAlone checks that bad, and nothing else, is in the review
// table, under reviewID, and that of bad and good only good's deposit is
// in the history.
func requireSetAsideAlone(t *testing.T, r *rig, bad *ledger.Transaction, reviewID string, good *ledger.Transaction) {
	t.Helper()
	var aside []string
	require.NoError(t, r.b.db.SelectContext(r.b.ctx, &aside, `SELECT update_id || '@' || ledger_offset FROM tokens.review_transaction WHERE resolved_at IS NULL`))
	require.Equal(t, []string{fmt.Sprintf("%s@%d", reviewID, bad.Offset)}, aside, "the review table")
	var hist []string
	require.NoError(t, r.b.db.SelectContext(r.b.ctx, &hist, `SELECT update_id FROM tokens.token_history WHERE ledger_offset > $1 ORDER BY ledger_offset`, bad.Offset-1))
	require.Equal(t, []string{good.UpdateID}, hist, "the history after the transaction set aside")
}

// The same under PoisonHalt: the error must name the offset and update id.
func TestE2ELongUpdateIDHaltNamesUpdateID(t *testing.T) {
	r := newRig(t)
	w, cp := committedDeposit(t, r, ingest.PoisonHalt)
	tx := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
	tx.UpdateID = "upd-long-" + randomText(3000)
	bad := r.append(tx)[0]
	err := r.run(ingest.PoisonHalt)
	t.Logf("Run: %.300s", err)
	require.Equal(t, cp, r.checkpoint())
	requireNamesTx(t, err, bad)
}

// An update id holding a NUL byte: PostgreSQL text refuses it.
func TestE2ENULUpdateID(t *testing.T) {
	requireUnstorableTxNamed(t, func(tx *ledger.Transaction) { tx.UpdateID = "upd-\x00-nul" })
}

// requireUnstorableTxNamed appends, after a committed deposit, a deposit
// that spoil makes unstorable: under PoisonHalt, Run stops with the
// checkpoint before it and an error naming it; under PoisonSetAside, Run
// goes on.
func requireUnstorableTxNamed(t *testing.T, spoil func(*ledger.Transaction)) {
	for _, policy := range []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			r := newRig(t)
			w, cp := committedDeposit(t, r, policy)
			tx := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
			spoil(tx)
			bad := r.append(tx)[0]
			good := r.append(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7", Reason: "acct-2"}))[0]
			err := r.run(policy)
			t.Logf("Run: %q; checkpoint %d -> %d", err, cp, r.checkpoint())
			if policy == ingest.PoisonSetAside {
				require.NoError(t, err)
				require.Equal(t, good.Offset, r.checkpoint())
				id := bad.UpdateID
				if !ledger.StorableUpdateID(id) {
					id = fmt.Sprintf("offset:%d", bad.Offset)
				}
				requireSetAsideAlone(t, r, bad, id, good)
				return
			}
			require.Equal(t, cp, r.checkpoint())
			requireNamesTx(t, err, bad)
		})
	}
}
