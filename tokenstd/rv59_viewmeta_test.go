package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A deposit offer whose account is only in the instruction's own metadata
// (its TransferInstruction view's meta; neither transfer.meta nor the
// creating choice's metadata has a reason). Created outside any operation,
// its offer and acceptance name acct-9 (the offer's metadata merges the
// view's); created by the depositor's TransferFactory_Transfer, the very
// same instruction named no account and its acceptance went to manual
// handling. The same instruction must credit the same account however it
// was created.
func TestDepositReasonInTheInstructionViewMeta(t *testing.T) {
	for _, loose := range []bool{false, true} {
		name := "created by TransferFactory_Transfer"
		if loose {
			name = "created outside any operation"
		}
		t.Run(name, func(t *testing.T) {
			w := &ledgertest.TokenWorld{Sequence: true}
			mint := w.Mint(alice, "100")
			offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7"})
			var instr *ledger.CreatedEvent
			for _, ev := range offer.Events {
				if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == cid {
					instr = c
				}
			}
			require.NotNil(t, instr)
			instr.InterfaceViews[0].Value = editValue(t, instr.InterfaceViews[0].Value, []string{"meta"},
				setTo(metadataValue(map[string]string{tokenstd.MetaReason: "acct-9"})))
			if loose {
				instr.NodeID = 0
				offer.Events = []ledger.Event{instr}
			}
			accept := w.Accept(cid)
			b, got := ingestRules(t, mint, offer, accept)

			require.Len(t, got[offer.UpdateID], 1)
			require.Equal(t, tokenstd.KindOfferIn, got[offer.UpdateID][0].Kind)
			require.Equal(t, "acct-9", got[offer.UpdateID][0].Account, "the offer names no account")
			require.Equal(t, []entryRow{{Kind: tokenstd.KindDeposit, Amount: "7", Transferred: "7", Fee: "0", Sender: alice,
				Receiver: treasury, Reason: "acct-9", Account: "acct-9", Instrument: cc}}, got[accept.UpdateID],
				"the accepted deposit is not credited to the account its instruction names")
			require.Equal(t, map[string]string{"acct-9": "7"}, b.credits(t))
		})
	}
}
