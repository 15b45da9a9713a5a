package withdrawal_test

import (
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/stretchr/testify/require"
)

// advancedInstruction turns accept (a TransferInstruction_Accept of the
// instruction icid, as TokenWorld builds it) into the same standard choice
// whose result is TransferInstructionResult_Pending: the registry needs a
// further step, so the choice creates a successor instruction (its view's
// originalInstructionCid names icid) and the funds stay locked. offer is the
// transaction that created icid. It returns the transaction and a second one,
// the receiver's acceptance of the successor that completes the transfer.
func advancedInstruction(t *testing.T, offer, accept *ledger.Transaction, icid, next string) (*ledger.Transaction, *ledger.Transaction) {
	t.Helper()
	var created ledger.CreatedEvent
	for _, ev := range offer.Events {
		if c, ok := ev.(*ledger.CreatedEvent); ok && c.ContractID == icid {
			created = *c
		}
	}
	require.Equal(t, icid, created.ContractID)
	tmpl := *(accept.Events[0].(*ledger.ExercisedEvent))
	require.Equal(t, "TransferInstruction_Accept", tmpl.Choice)

	// The Pending result, with the types of the Completed one.
	resID, ok := tmpl.ExerciseResult.TypeID()
	require.True(t, ok)
	out, err := tmpl.ExerciseResult.Get("output")
	require.NoError(t, err)
	outID, ok := out.TypeID()
	require.True(t, ok)
	meta, err := tmpl.ExerciseResult.Get("meta")
	require.NoError(t, err)
	metaID, ok := meta.TypeID()
	require.True(t, ok)
	pendingID := ledger.Identifier{PackageID: outID.PackageID, ModuleName: outID.ModuleName,
		EntityName: "TransferInstructionResult_Output.TransferInstructionResult_Pending"}
	root := tmpl
	root.ExerciseResult = ledger.Record(&resID,
		ledger.F("output", ledger.Variant(&outID, "TransferInstructionResult_Pending",
			ledger.Record(&pendingID, ledger.F("transferInstructionCid", ledger.ContractID(next))))),
		ledger.F("senderChangeCids", ledger.List()),
		ledger.F("meta", ledger.Record(&metaID, ledger.F("values", ledger.TextMap()))))
	root.NodeID, root.LastDescendantNodeID, root.Offset = 0, 1, accept.Offset

	// The successor: the instruction's view, originalInstructionCid = icid.
	view := created.InterfaceViews[0].Value
	viewID, ok := view.TypeID()
	require.True(t, ok)
	fields, err := view.AsRecord()
	require.NoError(t, err)
	var nf []ledger.Field
	for _, f := range fields {
		if f.Label == "originalInstructionCid" {
			f.Value = ledger.Some(ledger.ContractID(icid))
		}
		nf = append(nf, f)
	}
	succ := created
	succ.ContractID, succ.NodeID, succ.Offset = next, 1, accept.Offset
	succ.InterfaceViews = []ledger.InterfaceView{created.InterfaceViews[0]}
	succ.InterfaceViews[0].Value = ledger.Record(&viewID, nf...)

	advance := &ledger.Transaction{UpdateID: "upd-advance", Offset: accept.Offset, RecordTime: accept.RecordTime,
		SynchronizerID: accept.SynchronizerID, Events: []ledger.Event{&root, &succ}}

	// The acceptance of the successor: the original acceptance, on it.
	final := *accept
	final.UpdateID, final.Offset, final.RecordTime = "upd-accept-next", accept.Offset+1, accept.RecordTime.Add(time.Second)
	final.Events = nil
	for i, ev := range accept.Events {
		switch x := ev.(type) {
		case *ledger.ExercisedEvent:
			c := *x
			if i == 0 {
				c.ContractID = next
			}
			c.Offset = final.Offset
			final.Events = append(final.Events, &c)
		case *ledger.CreatedEvent:
			c := *x
			c.Offset = final.Offset
			final.Events = append(final.Events, &c)
		default:
			final.Events = append(final.Events, ev)
		}
	}
	return advance, &final
}

// A multi-step withdrawal whose instruction the registry advances (a
// standard choice returning TransferInstructionResult_Pending with a
// successor instruction) is still pending acceptance: tokenstd records the
// successor as an outgoing offer that replaces the old instruction. The
// Reconciler must follow it — not stop ingestion with an anomaly — and
// complete the withdrawal when the successor is accepted, without a refund.
func TestAdvancedInstructionKeepsTheWithdrawalPending(t *testing.T) {
	t.Run("entries from the History handler", func(t *testing.T) { advancedScenario(t, withdrawal.ReconcilerConfig{}) })
	t.Run("entries read from token_history", func(t *testing.T) {
		advancedScenario(t, withdrawal.ReconcilerConfig{History: fromTable{}})
	})
}

func advancedScenario(t *testing.T, rcfg withdrawal.ReconcilerConfig) {
	e := newEnv(t, withdrawal.Config{}, rcfg)
	cids := e.mint("80")
	w := e.create(e.request("wd-1", "60", cids...))
	offerTx, icid := e.offer(w, "0.5")
	e.apply(offerTx)
	require.Equal(t, withdrawal.StatusPendingAcceptance, e.get(w.ID).Status)

	advance, final := advancedInstruction(t, offerTx, e.world.Accept(icid), icid, "00instrNEXT")
	err := e.run(e.batch(time.Time{}, advance))
	require.NoError(t, err, "the registry advanced the transfer; ingestion stopped on it")
	got := e.get(w.ID)
	require.Equal(t, withdrawal.StatusPendingAcceptance, got.Status)
	require.Equal(t, "00instrNEXT", got.InstructionCID)
	require.NoError(t, e.run(e.batch(time.Time{}, advance)), "the same batch again (a replay) changes nothing")
	require.Equal(t, got, e.get(w.ID))

	e.apply(final)
	got = e.get(w.ID)
	require.Equal(t, withdrawal.StatusCompleted, got.Status)
	require.Equal(t, final.UpdateID, got.UpdateID)
	require.Empty(t, refunds(t, e.db))
}
