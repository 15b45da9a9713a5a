package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The reason of a multi-step transfer may come in the offer's
// extraArgs.meta (metadata merges transfer.meta, then extraArgs.meta, ...),
// which the instruction's view does not carry. Its acceptance must name the
// same withdrawal or account as its offer: otherwise a completed
// withdrawal stays pending acceptance until it is taken for failed and
// refunded, and a deposit goes to manual handling.
func TestOfferReasonInExtraArgsCarriesToTheOutcome(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }

	t.Run("outgoing", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		mint := w.Mint(treasury, "100")
		offer, cid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10",
			ExtraMeta: map[string]string{tokenstd.MetaReason: "wd-1"}})
		accept := w.Accept(cid)
		set := tokenstd.NewHoldingSet()
		var got [][]tokenstd.Entry
		for _, tx := range []*ledger.Transaction{mint, offer, accept} {
			es, err := tokenstd.Classify(view(tx), treasury, set)
			require.NoError(t, err)
			set.Apply(es)
			got = append(got, es)
		}
		require.Equal(t, tokenstd.KindOfferOut, got[1][0].Kind)
		require.Equal(t, "wd-1", got[1][0].WithdrawalID)
		require.Len(t, got[2], 1)
		require.Equal(t, tokenstd.KindWithdrawal, got[2][0].Kind)
		require.Equal(t, "wd-1", got[2][0].WithdrawalID, "the withdrawal completed without the id its offer named")
	})

	t.Run("incoming", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		w.Mint(alice, "100")
		offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10",
			ExtraMeta: map[string]string{tokenstd.MetaReason: "acct-1"}})
		es := classifyAfter(t, view(w.Accept(cid)), view(offer))
		require.Len(t, es, 1)
		require.Equal(t, tokenstd.KindDeposit, es[0].Kind, "%+v", es[0])
		require.Equal(t, "acct-1", es[0].Account)
	})

	t.Run("offer and acceptance in one transaction", func(t *testing.T) {
		w := &ledgertest.TokenWorld{Sequence: true}
		mint := w.Mint(treasury, "100")
		offer, cid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10",
			ExtraMeta: map[string]string{tokenstd.MetaReason: "wd-2"}})
		accept := w.Accept(cid)
		both := cloneTx(offer)
		n := int32(len(both.Events))
		for _, ev := range cloneTx(accept).Events {
			switch x := ev.(type) {
			case *ledger.CreatedEvent:
				x.NodeID += n
			case *ledger.ExercisedEvent:
				x.NodeID += n
				x.LastDescendantNodeID += n
			case *ledger.ArchivedEvent:
				x.NodeID += n
			}
			both.Events = append(both.Events, ev)
		}
		es := classifyAfter(t, view(both), view(mint))
		var kinds []tokenstd.Kind
		for _, e := range es {
			kinds = append(kinds, e.Kind)
			require.Equal(t, "wd-2", e.WithdrawalID, "%+v", e)
		}
		require.Equal(t, []tokenstd.Kind{tokenstd.KindOfferOut, tokenstd.KindWithdrawal}, kinds)
	})
}

// The same through the History handler, restarted between the offer and
// its acceptance: the reason comes back from token_instruction.
func TestOfferReasonInExtraArgsAfterRestart(t *testing.T) {
	b := setupHistory(t)
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	mint := w.Mint(treasury, "100")
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10",
		ExtraMeta: map[string]string{tokenstd.MetaReason: "wd-1"}})
	accept := w.Accept(cid)
	require.NoError(t, b.handle(t, newHistory(t, tokenstd.Config{}), []*ledger.Transaction{view(mint), view(offer)}, 2))
	require.NoError(t, b.handle(t, newHistory(t, tokenstd.Config{}), []*ledger.Transaction{view(accept)}, 1))
	es, err := tokenstd.ListEntries(b.ctx, b.db, testSchema, tokenstd.EntryFilter{
		Kinds: []tokenstd.Kind{tokenstd.KindOfferOut, tokenstd.KindWithdrawal}})
	require.NoError(t, err)
	require.Len(t, es, 2)
	require.Equal(t, "wd-1", es[0].WithdrawalID)
	require.Equal(t, tokenstd.KindWithdrawal, es[1].Kind)
	require.Equal(t, "wd-1", es[1].WithdrawalID, "the completed withdrawal lost its id across the restart")
}
