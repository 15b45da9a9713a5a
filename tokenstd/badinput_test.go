package tokenstd_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// editValue returns v with the value at path (record labels; Some is
// looked through) replaced by fn's result, or the field removed when fn
// returns false.
func editValue(t testing.TB, v ledger.Value, path []string, fn func(ledger.Value) (ledger.Value, bool)) ledger.Value {
	t.Helper()
	if len(path) == 0 {
		out, ok := fn(v)
		require.True(t, ok, "cannot delete the root")
		return out
	}
	if inner, some, err := v.AsOptional(); err == nil && some {
		return ledger.Some(editValue(t, inner, path, fn))
	}
	fields, err := v.AsRecord()
	require.NoError(t, err, "at %s", path[0])
	var out []ledger.Field
	found := false
	for _, f := range fields {
		if f.Label != path[0] {
			out = append(out, f)
			continue
		}
		found = true
		if len(path) == 1 {
			nv, keep := fn(f.Value)
			if keep {
				out = append(out, ledger.F(f.Label, nv))
			}
			continue
		}
		out = append(out, ledger.F(f.Label, editValue(t, f.Value, path[1:], fn)))
	}
	require.True(t, found, "no field %s", path[0])
	var idp *ledger.Identifier
	if id, ok := v.TypeID(); ok {
		idp = &id
	}
	return ledger.Record(idp, out...)
}

func setTo(v ledger.Value) func(ledger.Value) (ledger.Value, bool) {
	return func(ledger.Value) (ledger.Value, bool) { return v, true }
}

func drop(ledger.Value) (ledger.Value, bool) { return ledger.Value{}, false }

// retype gives a record another type identifier.
func retype(module, entity string) func(ledger.Value) (ledger.Value, bool) {
	return func(v ledger.Value) (ledger.Value, bool) {
		fields, _ := v.AsRecord()
		id, _ := v.TypeID()
		id.ModuleName, id.EntityName = module, entity
		return ledger.Record(&id, fields...), true
	}
}

func addField(label string, fv ledger.Value) func(ledger.Value) (ledger.Value, bool) {
	return func(v ledger.Value) (ledger.Value, bool) {
		fields, _ := v.AsRecord()
		fields = append(fields, ledger.F(label, fv))
		var idp *ledger.Identifier
		if id, ok := v.TypeID(); ok {
			idp = &id
		}
		return ledger.Record(idp, fields...), true
	}
}

// stripLabels mimics a non-verbose stream.
func stripLabels(v ledger.Value) (ledger.Value, bool) {
	fields, _ := v.AsRecord()
	for i := range fields {
		fields[i].Label = ""
	}
	return ledger.Record(nil, fields...), true
}

// badBase is a deposit as the treasury sees it: node 0 the transfer, node 1
// the implementation's exercise, node 2 the archive of alice's input, node
// 3 the treasury's new holding, node 4 alice's change.
func badBase(t testing.TB) *ledger.Transaction {
	t.Helper()
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	tx := ledgertest.TokenProjection(w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "40", Fee: "0.5", Reason: "acct-1"}), treasury)
	require.Len(t, tx.Events, 5)
	_, err := tokenstd.Classify(tx, treasury, nil)
	require.NoError(t, err)
	return tx
}

func cloneTx(tx *ledger.Transaction) *ledger.Transaction {
	out := *tx
	out.Events = make([]ledger.Event, len(tx.Events))
	for i, ev := range tx.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			c := *e
			c.InterfaceViews = append([]ledger.InterfaceView(nil), e.InterfaceViews...)
			out.Events[i] = &c
		case *ledger.ExercisedEvent:
			x := *e
			out.Events[i] = &x
		case *ledger.ArchivedEvent:
			a := *e
			out.Events[i] = &a
		}
	}
	return &out
}

func editView(t testing.TB, tx *ledger.Transaction, node int, path []string, fn func(ledger.Value) (ledger.Value, bool)) {
	t.Helper()
	c := tx.Events[node].(*ledger.CreatedEvent)
	c.InterfaceViews[0].Value = editValue(t, c.InterfaceViews[0].Value, path, fn)
}

func editArg(t testing.TB, tx *ledger.Transaction, node int, path []string, fn func(ledger.Value) (ledger.Value, bool)) {
	t.Helper()
	x := tx.Events[node].(*ledger.ExercisedEvent)
	x.ChoiceArgument = editValue(t, x.ChoiceArgument, path, fn)
}

func editResult(t testing.TB, tx *ledger.Transaction, node int, path []string, fn func(ledger.Value) (ledger.Value, bool)) {
	t.Helper()
	x := tx.Events[node].(*ledger.ExercisedEvent)
	x.ExerciseResult = editValue(t, x.ExerciseResult, path, fn)
}

// TestTokenBadInput: every malformed transaction yields a *ParseError naming
// the update id, the offset and the node, and no entries; never a panic,
// never a silent skip.
func TestTokenBadInput(t *testing.T) {
	v2 := ledger.Identifier{PackageID: "abc", ModuleName: "Splice.Api.Token.HoldingV2", EntityName: "Holding"}
	cases := []struct {
		name     string
		node     int32
		mutate   func(t testing.TB, tx *ledger.Transaction)
		contains string
		version  bool // wraps ErrUnsupportedVersion
	}{
		{"holding amount missing", 3, func(t testing.TB, tx *ledger.Transaction) { editView(t, tx, 3, []string{"amount"}, drop) }, "amount: missing record field", false},
		{"holding amount is text", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"amount"}, setTo(ledger.Text("40")))
		}, "want numeric, got text", false},
		{"holding amount malformed", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"amount"}, setTo(ledger.Numeric("40.0.1")))
		}, "malformed numeric", false},
		{"holding amount with exponent", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"amount"}, setTo(ledger.Numeric("4e1")))
		}, "malformed numeric", false},
		{"holding amount too precise", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"amount"}, setTo(ledger.Numeric("1."+strings.Repeat("1", 40))))
		}, "more than 38 digits", false},
		{"holding amount negative", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"amount"}, setTo(ledger.Numeric("-1.0")))
		}, "negative amount", false},
		{"holding owner is text", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"owner"}, setTo(ledger.Text(treasury)))
		}, "owner: want party, got text", false},
		{"instrument admin missing", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"instrumentId", "admin"}, drop)
		}, "instrumentId.admin: missing record field", false},
		{"lock holders not a list", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"lock"}, setTo(ledger.Some(ledger.Record(nil,
				ledger.F("holders", ledger.Party("x")), ledger.F("expiresAt", ledger.None()),
				ledger.F("expiresAfter", ledger.None()), ledger.F("context", ledger.None())))))
		}, "lock.holders: want list, got party", false},
		{"lock expires after year 9999", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"lock"}, setTo(ledger.Some(ledger.Record(nil,
				ledger.F("holders", ledger.List(ledger.Party("venue::1"))),
				ledger.F("expiresAt", ledger.Some(ledger.TimestampMicros(math.MaxInt64))),
				ledger.F("expiresAfter", ledger.None()), ledger.F("context", ledger.None())))))
		}, "lock.expiresAt: timestamp of 9223372036854775807 µs since 1970-01-01 is outside Daml's range", false},
		{"transfer requestedAt before year 1", 0, func(t testing.TB, tx *ledger.Transaction) {
			editArg(t, tx, 0, []string{"transfer", "requestedAt"}, setTo(ledger.TimestampMicros(-62135596800000001)))
		}, "transfer.requestedAt: timestamp of -62135596800000001 µs since 1970-01-01 is outside Daml's range", false},
		{"transfer executeBefore in year 10000", 0, func(t testing.TB, tx *ledger.Transaction) {
			editArg(t, tx, 0, []string{"transfer", "executeBefore"}, setTo(ledger.TimestampMicros(253402300800000000)))
		}, "outside Daml's range", false},
		{"metadata value not text", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"meta", "values"}, setTo(ledger.TextMap(ledger.F("k", ledger.Int64(1)))))
		}, "want text, got int64", false},
		{"holding view of HoldingV2", 3, func(t testing.TB, tx *ledger.Transaction) {
			tx.Events[3].(*ledger.CreatedEvent).InterfaceViews[0].InterfaceID = v2
		}, "Splice.Api.Token.HoldingV2", true},
		{"holding view with a field V1 lacks", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, nil, addField("vestingSchedule", ledger.None()))
		}, `unexpected field "vestingSchedule"`, true},
		{"holding view typed as V2", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, nil, retype("Splice.Api.Token.HoldingV2", "HoldingView"))
		}, "HoldingV2:HoldingView", true},
		{"holding view failed on the participant", 3, func(t testing.TB, tx *ledger.Transaction) {
			c := tx.Events[3].(*ledger.CreatedEvent)
			c.InterfaceViews[0].StatusCode, c.InterfaceViews[0].StatusMessage = 13, "view crashed"
		}, "could not compute the view", false},
		{"non-verbose stream", 3, func(t testing.TB, tx *ledger.Transaction) { editView(t, tx, 3, nil, stripLabels) }, "must be verbose", false},
		{"transfer argument without transfer", 0, func(t testing.TB, tx *ledger.Transaction) { editArg(t, tx, 0, []string{"transfer"}, drop) }, "transfer: missing record field", false},
		{"transfer sender is text", 0, func(t testing.TB, tx *ledger.Transaction) {
			editArg(t, tx, 0, []string{"transfer", "sender"}, setTo(ledger.Text(alice)))
		}, "transfer.sender: want party, got text", false},
		{"transfer amount malformed", 0, func(t testing.TB, tx *ledger.Transaction) {
			editArg(t, tx, 0, []string{"transfer", "amount"}, setTo(ledger.Numeric("forty")))
		}, "malformed numeric", false},
		{"transfer requestedAt is a date", 0, func(t testing.TB, tx *ledger.Transaction) {
			editArg(t, tx, 0, []string{"transfer", "requestedAt"}, setTo(ledger.DateDays(1)))
		}, "want timestamp, got date", false},
		{"extraArgs context missing", 0, func(t testing.TB, tx *ledger.Transaction) { editArg(t, tx, 0, []string{"extraArgs", "context"}, drop) }, "extraArgs.context: missing record field", false},
		{"result output unknown", 0, func(t testing.TB, tx *ledger.Transaction) {
			editResult(t, tx, 0, []string{"output"}, setTo(ledger.Variant(nil, "TransferInstructionResult_Partial", ledger.Unit())))
		}, "TransferInstructionResult_Partial", true},
		{"result output not a variant", 0, func(t testing.TB, tx *ledger.Transaction) {
			editResult(t, tx, 0, []string{"output"}, setTo(ledger.Text("Completed")))
		}, "want variant, got text", false},
		{"result missing", 0, func(t testing.TB, tx *ledger.Transaction) {
			tx.Events[0].(*ledger.ExercisedEvent).ExerciseResult = ledger.Value{}
		}, "want record, got invalid", false},
		{"TransferFactory of version 2", 0, func(t testing.TB, tx *ledger.Transaction) {
			x := tx.Events[0].(*ledger.ExercisedEvent)
			id := *x.InterfaceID
			id.ModuleName = "Splice.Api.Token.TransferInstructionV2"
			x.InterfaceID = &id
		}, "TransferInstructionV2", true},
		{"sub-event with a bad holding view", 3, func(t testing.TB, tx *ledger.Transaction) {
			editView(t, tx, 3, []string{"instrumentId", "id"}, setTo(ledger.Party("Amulet")))
		}, "instrumentId.id: want text, got party", false},
		{"duplicate node ids", 2, func(t testing.TB, tx *ledger.Transaction) {
			tx.Events[1].(*ledger.ExercisedEvent).NodeID = 2
		}, "two events with node id 2", false},
		{"last descendant before the node", 1, func(t testing.TB, tx *ledger.Transaction) {
			tx.Events[1].(*ledger.ExercisedEvent).LastDescendantNodeID = 0
		}, "last descendant", false},
		{"holding created twice", 4, func(t testing.TB, tx *ledger.Transaction) {
			tx.Events[4].(*ledger.CreatedEvent).ContractID = tx.Events[3].(*ledger.CreatedEvent).ContractID
		}, "created twice", false},
		{"contract consumed twice", 5, func(t testing.TB, tx *ledger.Transaction) {
			again := *tx.Events[2].(*ledger.ExercisedEvent)
			again.NodeID, again.LastDescendantNodeID = 5, 5
			tx.Events = append(tx.Events, &again)
			tx.Events[0].(*ledger.ExercisedEvent).LastDescendantNodeID = 5
			tx.Events[1].(*ledger.ExercisedEvent).LastDescendantNodeID = 5
		}, "consumed twice (first at node 2)", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx := cloneTx(badBase(t))
			c.mutate(t, tx)
			entries, err := tokenstd.Classify(tx, treasury, nil)
			require.Error(t, err)
			require.Nil(t, entries)
			var pe *tokenstd.ParseError
			require.True(t, errors.As(err, &pe), "error %v is not a *ParseError", err)
			require.Equal(t, tx.UpdateID, pe.UpdateID)
			require.Equal(t, tx.Offset, pe.Offset)
			require.Equal(t, c.node, pe.NodeID, "error: %v", err)
			require.Contains(t, err.Error(), c.contains)
			require.Contains(t, err.Error(), tx.UpdateID)
			require.Equal(t, c.version, errors.Is(err, tokenstd.ErrUnsupportedVersion), "error: %v", err)
		})
	}
}

// TestTokenBadInputInInstructionChoice covers the TransferInstruction choices.
func TestTokenBadInputInInstructionChoice(t *testing.T) {
	w := &ledgertest.TokenWorld{Sequence: true}
	w.Mint(alice, "100")
	offer, cid := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"})
	accept := ledgertest.TokenProjection(w.Accept(cid), treasury)
	set := tokenstd.NewHoldingSet()
	entries, err := tokenstd.Classify(ledgertest.TokenProjection(offer, treasury), treasury, set)
	require.NoError(t, err)
	set.Apply(entries)

	bad := cloneTx(accept)
	editArg(t, bad, 0, []string{"extraArgs"}, setTo(ledger.Unit()))
	_, err = tokenstd.Classify(bad, treasury, set)
	var pe *tokenstd.ParseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, int32(0), pe.NodeID)
	require.Contains(t, err.Error(), "TransferInstruction_Accept choice argument")

	bad = cloneTx(accept)
	editResult(t, bad, 0, []string{"senderChangeCids"}, setTo(ledger.List(ledger.Text("00x"))))
	_, err = tokenstd.Classify(bad, treasury, set)
	require.ErrorAs(t, err, &pe)
	require.Contains(t, err.Error(), "senderChangeCids[0]: want contract_id, got text")

	got, err := tokenstd.Classify(accept, treasury, set)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, tokenstd.KindDeposit, got[0].Kind)
}

// TestTokenUnrelatedShapesAreNotErrors: choices outside the token standard
// may use the field names transfer, extraArgs and meta for anything.
func TestTokenUnrelatedShapesAreNotErrors(t *testing.T) {
	tx := &ledger.Transaction{UpdateID: "u1", Offset: 7, Events: []ledger.Event{
		&ledger.ExercisedEvent{NodeID: 0, LastDescendantNodeID: 0, ContractID: "00c", Choice: "App_Do",
			TemplateID:     ledger.Identifier{PackageID: "p", ModuleName: "App", EntityName: "T"},
			ChoiceArgument: ledger.Record(nil, ledger.F("meta", ledger.Text("x")), ledger.F("transfer", ledger.Int64(1))),
			ExerciseResult: ledger.Record(nil, ledger.F("meta", ledger.Record(nil, ledger.F("values", ledger.Int64(3)))))},
	}}
	entries, err := tokenstd.Classify(tx, treasury, nil)
	require.NoError(t, err)
	require.Empty(t, entries)
}
