package tokenstd_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// rv59 checks the parsing rules of the exchange integration reference
// (reference/exchange-integration.md) end to end, through the History
// handler and PostgreSQL, for shapes the other tests do not build.

// entryRow is what a test asserts of a stored entry: amounts as decimal
// text, as ListEntries reads them back.
type entryRow struct {
	Kind                      tokenstd.Kind
	Amount, Transferred, Fee  string
	Sender, Receiver          string
	Reason, Account, Withdraw string
	Instrument                tokenstd.Instrument
}

func rowOf(e tokenstd.Entry) entryRow {
	return entryRow{Kind: e.Kind, Amount: e.Amount.String(), Transferred: e.Transferred.String(), Fee: e.Fee.String(),
		Sender: e.Sender, Receiver: e.Receiver, Reason: e.Reason, Account: e.Account, Withdraw: e.WithdrawalID,
		Instrument: e.Instrument}
}

// ingestRules runs the treasury's view of txs through a History handler,
// one transaction a batch, and returns the stored entries by update id.
func ingestRules(t *testing.T, txs ...*ledger.Transaction) (*historyBundle, map[string][]entryRow) {
	t.Helper()
	var view []*ledger.Transaction
	for _, tx := range txs {
		if v := ledgertest.TokenProjection(tx, treasury); v != nil {
			view = append(view, v)
		}
	}
	b := setupHistory(t)
	h := newHistory(t, tokenstd.Config{Credit: creditor()})
	require.NoError(t, b.handle(t, h, view, 1))
	es, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	out := map[string][]entryRow{}
	for _, e := range es {
		out[e.UpdateID] = append(out[e.UpdateID], rowOf(e))
	}
	return b, out
}

func (b *historyBundle) credits(t *testing.T) map[string]string {
	t.Helper()
	var rows []struct {
		Account string `db:"account"`
		Amount  string `db:"amount"`
	}
	require.NoError(t, b.db.Select(&rows, `SELECT account, sum(amount)::text AS amount FROM public.credit GROUP BY account`))
	out := map[string]string{}
	for _, r := range rows {
		out[r.Account] = r.Amount
	}
	return out
}

var cc = tokenstd.Instrument{Admin: ledgertest.TokenDefaultAdmin, ID: ledgertest.TokenDefaultInstrumentID}

// A transfer from the treasury to itself (a merge of two holdings with a
// burned fee, and a split of one into two) is a merge_split whose fee is
// the loss: never a withdrawal, whatever reason it carries, never a
// deposit.
func TestRulesSelfTransfer(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	m1, m2 := w.Mint(treasury, "30"), w.Mint(treasury, "20")
	merge := w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: "49.5", Fee: "0.5", Reason: "wd-77"})
	split := w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: "12.25"})
	b, got := ingestRules(t, m1, m2, merge, split)

	require.Equal(t, []entryRow{{Kind: tokenstd.KindMergeSplit, Amount: "-0.5", Transferred: "49.5", Fee: "0.5",
		Sender: treasury, Receiver: treasury, Reason: "wd-77", Instrument: cc}}, got[merge.UpdateID])
	require.Equal(t, []entryRow{{Kind: tokenstd.KindMergeSplit, Amount: "0", Transferred: "12.25", Fee: "0",
		Sender: treasury, Receiver: treasury, Instrument: cc}}, got[split.UpdateID])
	live, err := tokenstd.LiveHoldings(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	var amounts []string
	for _, h := range live {
		amounts = append(amounts, h.Amount.String())
	}
	require.ElementsMatch(t, []string{"12.25", "37.25"}, amounts)
	require.Empty(t, b.credits(t))
}

// The deposit's account is the reason of the merged metadata, later wins:
// transfer.meta, then extraArgs.meta. A multi-step deposit keeps its
// offer's transfer.meta reason (documented on Entry.Reason) whatever the
// acceptance's metadata says; a reason the offer gave only in
// extraArgs.meta carries to the acceptance.
func TestRulesDepositMemo(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := w.Mint(alice, "100")
	inTransfer := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "1", Reason: "acct-1"})
	inExtra := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "2",
		ExtraMeta: map[string]string{tokenstd.MetaReason: "acct-2"}})
	both := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "3", Reason: "acct-1",
		ExtraMeta: map[string]string{tokenstd.MetaReason: "acct-3"}})
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "4", Reason: "acct-4"})
	accept := w.Accept(cid)
	// The treasury's acceptance names another account in its result's
	// metadata: the offer's reason stays.
	editResult(t, accept, 0, []string{"meta", "values"}, setTo(ledger.TextMapOf(map[string]string{
		tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaSender: alice, tokenstd.MetaReason: "acct-9"})))
	offer2, cid2 := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5",
		ExtraMeta: map[string]string{tokenstd.MetaReason: "acct-5"}})
	accept2 := w.Accept(cid2)
	b, got := ingestRules(t, mint, inTransfer, inExtra, both, offer, accept, offer2, accept2)

	dep := func(amount, reason string) []entryRow {
		return []entryRow{{Kind: tokenstd.KindDeposit, Amount: amount, Transferred: amount, Fee: "0", Sender: alice,
			Receiver: treasury, Reason: reason, Account: reason, Instrument: cc}}
	}
	require.Equal(t, dep("1", "acct-1"), got[inTransfer.UpdateID])
	require.Equal(t, dep("2", "acct-2"), got[inExtra.UpdateID])
	require.Equal(t, dep("3", "acct-3"), got[both.UpdateID], "extraArgs.meta comes later than transfer.meta")
	require.Equal(t, tokenstd.KindOfferIn, got[offer.UpdateID][0].Kind)
	require.Equal(t, "acct-4", got[offer.UpdateID][0].Account)
	require.Equal(t, "0", got[offer.UpdateID][0].Amount, "an offer credits nothing")
	require.Equal(t, dep("4", "acct-4"), got[accept.UpdateID])
	require.Equal(t, "acct-5", got[offer2.UpdateID][0].Account)
	require.Equal(t, dep("5", "acct-5"), got[accept2.UpdateID])
	require.Equal(t, map[string]string{"acct-1": "1", "acct-2": "2", "acct-3": "3", "acct-4": "4", "acct-5": "5"}, b.credits(t))
}

// Several transfers in one transaction, of two instruments with the same
// id and different admins, and a withdrawal beside them: one entry per
// transfer, each of its own instrument, and balances per admin and id.
func TestRulesSeveralTransfersAndInstruments(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	r1 := ledgertest.TokenInstrument{Admin: "registry::1220r1", ID: "USDX"}
	r2 := ledgertest.TokenInstrument{Admin: "registry::1220r2", ID: "USDX"}
	i1, i2 := tokenstd.Instrument{Admin: r1.Admin, ID: r1.ID}, tokenstd.Instrument{Admin: r2.Admin, ID: r2.ID}
	ma, mb, mt := w.Mint(alice, "100", r1), w.Mint(bob, "100", r2), w.Mint(treasury, "50", r1)
	tx := w.Tx(
		w.TransferOp(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Instrument: r1, Reason: "acct-1"}),
		w.TransferOp(ledgertest.TransferSpec{Sender: bob, Receiver: treasury, Amount: "20", Instrument: r2, Reason: "acct-2"}),
		w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "7", Fee: "0.1", Instrument: r1,
			Reason: "wd-1", InputHoldings: []string{mt.Events[1].(*ledger.CreatedEvent).ContractID}}),
	)
	b, got := ingestRules(t, ma, mb, mt, tx)
	require.Equal(t, []entryRow{
		{Kind: tokenstd.KindDeposit, Amount: "10", Transferred: "10", Fee: "0", Sender: alice, Receiver: treasury,
			Reason: "acct-1", Account: "acct-1", Instrument: i1},
		{Kind: tokenstd.KindDeposit, Amount: "20", Transferred: "20", Fee: "0", Sender: bob, Receiver: treasury,
			Reason: "acct-2", Account: "acct-2", Instrument: i2},
		{Kind: tokenstd.KindWithdrawal, Amount: "-7.1", Transferred: "7", Fee: "0.1", Sender: treasury, Receiver: external,
			Reason: "wd-1", Withdraw: "wd-1", Instrument: i1},
	}, got[tx.UpdateID])
	bal, err := tokenstd.Balances(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	require.Len(t, bal, 2)
	require.Equal(t, "52.9", bal[i1].String())
	require.Equal(t, "20", bal[i2].String())
}

// Amounts at the Decimal scale (10 places) and of 28 integer digits are
// exact end to end: entries, credits and balances.
func TestRulesNumerics(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := w.Mint(alice, "9999999999999999999999999999.9999999999")
	dep := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "1234567890123456789012345678.0000000001",
		Fee: "0.0000000001", Reason: "acct-1"})
	wd := w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "1234567890123456789012345677.9999999999",
		Fee: "0.0000000001", Reason: "wd-1"})
	b, got := ingestRules(t, mint, dep, wd)
	require.Equal(t, []entryRow{{Kind: tokenstd.KindDeposit, Amount: "1234567890123456789012345678.0000000001",
		Transferred: "1234567890123456789012345678.0000000001", Fee: "0", Sender: alice, Receiver: treasury,
		Reason: "acct-1", Account: "acct-1", Instrument: cc}}, got[dep.UpdateID])
	require.Equal(t, []entryRow{{Kind: tokenstd.KindWithdrawal, Amount: "-1234567890123456789012345678",
		Transferred: "1234567890123456789012345677.9999999999", Fee: "0.0000000001", Sender: treasury, Receiver: bob,
		Reason: "wd-1", Withdraw: "wd-1", Instrument: cc}}, got[wd.UpdateID])
	require.Equal(t, map[string]string{"acct-1": "1234567890123456789012345678.0000000001"}, b.credits(t))
	bal, err := tokenstd.Balances(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	require.Equal(t, "0.0000000001", bal[cc].String())
}

// Locked holdings count in the balance, with their lock as the view gave
// it; a lock is an entry of its own that moves no funds.
func TestRulesLockedHoldings(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := w.Mint(treasury, "40")
	until := w.Now().Add(time.Hour)
	lock := w.Tx(w.LockOp(treasury, "15", ledgertest.HoldingLock{Holders: []string{"venue::1220v5"}, ExpiresAt: until, Context: "collateral"}))
	b, got := ingestRules(t, mint, lock)
	require.Equal(t, []entryRow{{Kind: tokenstd.KindLock, Amount: "0", Transferred: "0", Fee: "0", Instrument: cc}}, got[lock.UpdateID])
	bal, err := tokenstd.Balances(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	require.Equal(t, "40", bal[cc].String())
	live, err := tokenstd.LiveHoldings(b.ctx, b.db, testSchema)
	require.NoError(t, err)
	require.Len(t, live, 2)
	var locked *tokenstd.Holding
	for i := range live {
		if live[i].Lock != nil {
			locked = &live[i]
		}
	}
	require.NotNil(t, locked)
	require.Equal(t, "15", locked.Amount.String())
	require.Equal(t, []string{"venue::1220v5"}, locked.Lock.Holders)
	require.Equal(t, "collateral", locked.Lock.Context)
	require.NotNil(t, locked.Lock.ExpiresAt)
	require.True(t, until.Equal(*locked.Lock.ExpiresAt))
}

// advanceStep is a registry's own choice on instruction prev that archives
// it and creates its successor next, whose view names original as
// originalInstructionCid (the token standard's multi-step workflow).
func advanceStep(t *testing.T, created ledger.CreatedEvent, tmpl *ledger.ExercisedEvent, admin, prev, next, original string, offset int64, at time.Time) *ledger.Transaction {
	root := *tmpl
	root.ContractID, root.Choice, root.InterfaceID, root.ImplementedInterfaces = prev, "RegistryTransferInstruction_Advance", nil, nil
	root.ActingParties = []string{admin}
	root.Consuming = true
	root.ChoiceArgument = ledger.Record(nil)
	root.ExerciseResult = ledger.Record(nil, ledger.F("nextInstructionCid", ledger.ContractID(next)))
	root.NodeID, root.LastDescendantNodeID, root.Offset = 0, 1, offset
	succ := created
	succ.ContractID, succ.NodeID, succ.Offset = next, 1, offset
	succ.InterfaceViews = append([]ledger.InterfaceView(nil), created.InterfaceViews...)
	succ.InterfaceViews[0].Value = editValue(t, created.InterfaceViews[0].Value, []string{"originalInstructionCid"},
		setTo(ledger.Some(ledger.ContractID(original))))
	return &ledger.Transaction{UpdateID: "upd-advance-" + next, Offset: offset, RecordTime: at,
		SynchronizerID: ledgertest.DefaultSynchronizer, Events: []ledger.Event{&root, &succ}}
}

// The treasury's withdrawal offer advanced by its registry (a successor
// instruction naming the first as original) and then rejected, withdrawn
// or expired: the end carries the withdrawal id, moves no funds beyond
// the fee the registry kept (none here), and the locked funds are the
// treasury's again. With the id given only in the offer's extraArgs.meta
// too.
func TestRulesInstructionEndedAfterAStep(t *testing.T) {
	for _, end := range []struct {
		name string
		kind tokenstd.Kind
	}{{"reject", tokenstd.KindRejected}, {"withdraw", tokenstd.KindWithdrawn}, {"expire", tokenstd.KindExpired}} {
		for _, inExtra := range []bool{false, true} {
			name := end.name
			if inExtra {
				name += "/reason in extraArgs"
			}
			t.Run(name, func(t *testing.T) {
				w := &ledgertest.TokenWorld{Sequence: true}
				mint := w.Mint(treasury, "100")
				spec := ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10", Fee: "0.1", Reason: "wd-1"}
				if inExtra {
					spec.Reason, spec.ExtraMeta = "", map[string]string{tokenstd.MetaReason: "wd-1"}
				}
				offer, a := w.Offer(spec)
				var ended *ledger.Transaction
				switch end.name {
				case "reject":
					ended = w.Reject(a)
				case "withdraw":
					ended = w.Withdraw(a)
				default:
					ended = w.Expire(a)
				}
				var created ledger.CreatedEvent
				for _, ev := range offer.Events {
					if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == a {
						created = *c
					}
				}
				require.Equal(t, a, created.ContractID)
				step := advanceStep(t, created, ended.Events[0].(*ledger.ExercisedEvent), w.Admin, a, "00instrB", a,
					offer.Offset+1, offer.RecordTime.Add(time.Second))
				ended = cloneTx(ended)
				ended.Offset = offer.Offset + 2
				ended.Events[0].(*ledger.ExercisedEvent).ContractID = "00instrB"

				b, got := ingestRules(t, mint, offer, step, ended)
				require.Len(t, got[step.UpdateID], 1)
				require.Equal(t, tokenstd.KindOfferOut, got[step.UpdateID][0].Kind)
				require.Equal(t, "wd-1", got[step.UpdateID][0].Withdraw)
				require.Equal(t, []entryRow{{Kind: end.kind, Amount: "0", Transferred: "10", Fee: "0", Sender: treasury,
					Receiver: bob, Reason: "wd-1", Withdraw: "wd-1", Instrument: cc}}, got[ended.UpdateID])
				bal, err := tokenstd.Balances(b.ctx, b.db, testSchema)
				require.NoError(t, err)
				require.Equal(t, "100", bal[cc].String())
				pending, err := tokenstd.PendingInstructions(b.ctx, b.db, testSchema)
				require.NoError(t, err)
				require.Empty(t, pending)
			})
		}
	}
}
