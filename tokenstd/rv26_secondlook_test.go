package tokenstd_test

import (
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// asOwnChoice makes the TransferFactory_Transfer exercise at node a choice
// of the registry's own template (Amulet's TransferPreapproval_Send and
// its like: no interface, their metadata Optional, tx-kind transfer in the
// result), as a registry's 1-step transfer outside the standard is.
func asOwnChoice(t *testing.T, tx *ledger.Transaction, node int) {
	t.Helper()
	x := tx.Events[node].(*ledger.ExercisedEvent)
	require.Equal(t, tokenstd.ChoiceTransferFactoryTransfer, x.Choice)
	x.InterfaceID, x.Choice = nil, "TransferPreapproval_Send"
}

// TestMallorysTxKindAroundAnOwnChoiceDepositDoesNotSwallowIt: as
// TestMallorysTxKindAroundADepositDoesNotSwallowIt, with the transfer to
// the treasury inside mallory's choice made by a registry choice outside
// the token standard that carries tx-kind transfer (an operation of its
// own, as the integration guide reads it). Unwrapped it is credited to
// acct-8; wrapped in her choice whose meta says burn, mint or one of her
// own, it must be too.
func TestMallorysTxKindAroundAnOwnChoiceDepositDoesNotSwallowIt(t *testing.T) {
	for _, kind := range []string{"", tokenstd.TxKindBurn, tokenstd.TxKindMint, "mallory-kind"} {
		t.Run("kind="+kind, func(t *testing.T) {
			r := requireNotStoppedBy(t, "mallory's tx-kind "+kind, func(r *rig, w *ledgertest.TokenWorld) {
				r.append(w.Mint(forger, "100"))
				transfer := w.TransferOp(ledgertest.TransferSpec{Sender: forger, Receiver: treasury, Amount: "10", Reason: "acct-8"})
				if kind == "" {
					tx := w.Tx(transfer)
					asOwnChoice(t, tx, 0)
					r.append(tx)
					return
				}
				wrapped := w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: forger, Choice: "Mallory_Wrap"}, transfer))
				asOwnChoice(t, wrapped, 1)
				editArg(t, wrapped, 0, nil, addField("meta", metadataValue(map[string]string{tokenstd.MetaTxKind: kind})))
				root := wrapped.Events[0].(*ledger.ExercisedEvent)
				root.WitnessParties = append(root.WitnessParties, treasury)
				r.append(wrapped)
			})
			require.Equal(t, 1, r.count(`SELECT count(*) FROM tokens.token_history
				WHERE kind = 'deposit' AND account = 'acct-8' AND amount = 10`), "mallory's deposit inside her tx-kind %q", kind)
		})
	}
}
