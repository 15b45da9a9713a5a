package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// The treasury pays mallory with a transfer instruction that carries no
// reason: a payment that is not a withdrawal. Mallory, its receiver, ends
// it (accepting, rejecting) with extraArgs.meta saying "reason = wd-2", the
// id of someone's pending withdrawal. The choice's argument is the
// receiver's free text: the instruction's outcome is not an outcome of
// wd-2 (accepted, it would complete wd-2 with nothing paid for it; if wd-2
// is pending on its own instruction the Reconciler stops on the anomaly).
func TestReceiversReasonIsNoWithdrawalID(t *testing.T) {
	for _, end := range []string{tokenstd.ChoiceInstructionAccept, tokenstd.ChoiceInstructionReject} {
		t.Run(end, func(t *testing.T) {
			view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
			w := &ledgertest.TokenWorld{Sequence: true}
			mint := view(w.Mint(treasury, "100"))
			offer, cid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: forger, Amount: "10"})
			var done *ledger.Transaction
			if end == tokenstd.ChoiceInstructionAccept {
				done = cloneTx(view(w.Accept(cid)))
			} else {
				done = cloneTx(view(w.Reject(cid)))
			}
			editArg(t, done, 0, []string{"extraArgs", "meta", "values"}, setTo(ledger.TextMapOf(map[string]string{tokenstd.MetaReason: "wd-2"})))
			es := classifyAfter(t, done, mint, view(offer))
			require.NotEmpty(t, es)
			for _, e := range es {
				require.Empty(t, e.WithdrawalID, "the receiver's extraArgs.meta made the treasury's payment a %s of withdrawal %q", e.Kind, e.WithdrawalID)
			}
		})
	}
}
