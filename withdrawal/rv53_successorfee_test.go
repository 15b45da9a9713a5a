package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// A registry that advances a withdrawal's transfer instruction (a standard
// choice returning TransferInstructionResult_Pending with a successor) and
// burns a fee from the funds it keeps locked for it: the history records
// that fee on the successor's offer entry, and the withdrawal's Fee must
// count it with those of the offer and the acceptance, so that its
// Transferred + Fee is what the history says it cost the treasury.
func TestInstructionFeeOfSuccessorStep(t *testing.T) {
	t.Run("entries from the History handler", func(t *testing.T) { successorFee(t, withdrawal.ReconcilerConfig{}) })
	t.Run("entries read from token_history", func(t *testing.T) {
		successorFee(t, withdrawal.ReconcilerConfig{History: fromTable{}})
	})
}

func successorFee(t *testing.T, rcfg withdrawal.ReconcilerConfig) {
	e := newEnv(t, withdrawal.Config{}, rcfg)
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	offerTx, icid := e.offer(w, "0.5") // locks 60.5
	e.apply(offerTx)
	advance, final := advancedInstruction(t, offerTx, e.world.Accept(icid), icid, "00instrNEXT")

	// The advance archives the locked holding and locks 60.4 anew: 0.1
	// burned. The acceptance of the successor spends that one.
	root := advance.Events[0].(*ledger.ExercisedEvent)
	var archive ledger.ExercisedEvent
	for _, ev := range final.Events {
		if x, ok := ev.(*ledger.ExercisedEvent); ok && x.Choice == "Archive" {
			archive = *x
			x.ContractID = "00holdingRELOCKED"
		}
	}
	require.NotEmpty(t, archive.ContractID, "the acceptance archives the locked holding")
	var relocked ledger.CreatedEvent
	for _, ev := range offerTx.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == archive.ContractID {
			relocked = *c
		}
	}
	require.Equal(t, archive.ContractID, relocked.ContractID, "the offer created the locked holding")
	view := relocked.InterfaceViews[0].Value
	amount, ok := view.Field("amount")
	require.True(t, ok)
	locked, err := amount.AsDecimal()
	require.NoError(t, err)
	requireDec(t, "60.5", locked)
	relocked.ContractID, relocked.Offset = "00holdingRELOCKED", advance.Offset
	relocked.InterfaceViews = []ledger.InterfaceView{relocked.InterfaceViews[0]}
	relocked.InterfaceViews[0].Value = withField(t, view, "amount", ledger.Numeric(locked.Sub(dec("0.1")).StringFixed(10)))
	succ := advance.Events[1].(*ledger.CreatedEvent)
	archive.Offset = advance.Offset
	archive.NodeID, archive.LastDescendantNodeID = 1, 1
	relocked.NodeID, succ.NodeID = 2, 3
	root.LastDescendantNodeID = 3
	advance.Events = []ledger.Event{root, &archive, &relocked, succ}

	require.NoError(t, e.run(e.batch(time.Time{}, advance)))
	got := e.get(w.ID)
	require.Equal(t, withdrawal.StatusPendingAcceptance, got.Status)
	require.Equal(t, "00instrNEXT", got.InstructionCID)
	var burned string
	require.NoError(t, e.db.Get(&burned, `SELECT trim_scale(fee)::text FROM txhistory.token_history WHERE kind = 'transfer_offer_out' AND instruction_cid = '00instrNEXT'`))
	require.Equal(t, "0.1", burned, "the history's fee of the advance")
	requireDec(t, "0.1", got.Fee, "the withdrawal's fee leaves out what the registry burned when it advanced the transfer")
	require.NoError(t, e.replay(e.batches[len(e.batches)-1]), "the same batch again (a replay)")
	requireDec(t, "0.1", e.get(w.ID).Fee, "a replay of the advance counts its fee again")

	e.apply(final)
	got = e.get(w.ID)
	require.Equal(t, withdrawal.StatusCompleted, got.Status)
	var outflow string
	require.NoError(t, e.db.Get(&outflow, `SELECT trim_scale(sum(amount))::text FROM txhistory.token_history WHERE withdrawal_id = $1`, w.ID))
	require.Equal(t, "-60.5", outflow, "the history's outflow of the withdrawal")
	requireDec(t, "60", got.Transferred)
	requireDec(t, "0.5", got.Fee, "the withdrawal's fee leaves out what the registry burned when it advanced the transfer")
}
