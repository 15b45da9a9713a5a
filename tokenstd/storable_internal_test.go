package tokenstd

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStorableFindsEveryText: firstUnstorable looks at each text an entry
// stores, in its fields, its metadata, its instruction and its holdings,
// and passes an entry whose texts are all storable.
func TestStorableFindsEveryText(t *testing.T) {
	full := func() Entry {
		h := Holding{ContractID: "h1", HoldingView: HoldingView{Owner: "o", Meta: Metadata{"hk": "hv"},
			Lock: &Lock{Holders: []string{"l1"}, Context: "lc"}}}
		return Entry{UpdateID: "u", SynchronizerID: "s", Sender: "a", Receiver: "b", Counterparty: "c", Reason: "r",
			Account: "acct", WithdrawalID: "w", InstructionCID: "i", TxKind: "k", Choice: "ch",
			Instrument: Instrument{Admin: "adm", ID: "id"}, Meta: Metadata{"mk": "mv"},
			Instruction: &Instruction{ContractID: "ic", Replaces: "rp", TransferInstructionView: TransferInstructionView{
				OriginalInstructionCID: "oi", Meta: Metadata{"ik": "iv"},
				Transfer: Transfer{Sender: "ts", Receiver: "tr", InputHoldingCIDs: []string{"in1"}, Meta: Metadata{"tk": "tv"}}}},
			Created: []Holding{h}, Archived: []Holding{h}}
	}
	e := full()
	s, ok := firstUnstorable(&e)
	require.True(t, ok, "an entry of plain texts is storable, not %q", s)

	const bad = "x\x00y"
	spoil := map[string]func(e *Entry){
		"update id":              func(e *Entry) { e.UpdateID = bad },
		"synchronizer":           func(e *Entry) { e.SynchronizerID = bad },
		"sender":                 func(e *Entry) { e.Sender = bad },
		"receiver":               func(e *Entry) { e.Receiver = bad },
		"counterparty":           func(e *Entry) { e.Counterparty = bad },
		"reason":                 func(e *Entry) { e.Reason = bad },
		"account":                func(e *Entry) { e.Account = bad },
		"withdrawal":             func(e *Entry) { e.WithdrawalID = bad },
		"instruction cid":        func(e *Entry) { e.InstructionCID = bad },
		"tx kind":                func(e *Entry) { e.TxKind = bad },
		"choice":                 func(e *Entry) { e.Choice = bad },
		"instrument admin":       func(e *Entry) { e.Instrument.Admin = bad },
		"instrument id":          func(e *Entry) { e.Instrument.ID = bad },
		"meta key":               func(e *Entry) { e.Meta = Metadata{bad: "v"} },
		"meta value":             func(e *Entry) { e.Meta["mk"] = bad },
		"instruction contract":   func(e *Entry) { e.Instruction.ContractID = bad },
		"instruction replaces":   func(e *Entry) { e.Instruction.Replaces = bad },
		"instruction original":   func(e *Entry) { e.Instruction.OriginalInstructionCID = bad },
		"instruction sender":     func(e *Entry) { e.Instruction.Transfer.Sender = bad },
		"instruction receiver":   func(e *Entry) { e.Instruction.Transfer.Receiver = bad },
		"instruction admin":      func(e *Entry) { e.Instruction.Transfer.Instrument.Admin = bad },
		"instruction instrument": func(e *Entry) { e.Instruction.Transfer.Instrument.ID = bad },
		"instruction input":      func(e *Entry) { e.Instruction.Transfer.InputHoldingCIDs = []string{"in1", bad} },
		"instruction meta":       func(e *Entry) { e.Instruction.Meta["ik"] = bad },
		"instruction transfer m": func(e *Entry) { e.Instruction.Transfer.Meta = Metadata{bad: ""} },
		"created contract":       func(e *Entry) { e.Created[0].ContractID = bad },
		"created owner":          func(e *Entry) { e.Created[0].Owner = bad },
		"created admin":          func(e *Entry) { e.Created[0].Instrument.Admin = bad },
		"created instrument":     func(e *Entry) { e.Created[0].Instrument.ID = bad },
		"created meta":           func(e *Entry) { e.Created[0].Meta = Metadata{"hk": bad} },
		"created lock context":   func(e *Entry) { e.Created[0].Lock = &Lock{Context: bad} },
		"created lock holder":    func(e *Entry) { e.Created[0].Lock = &Lock{Holders: []string{"l1", bad}} },
		"archived contract":      func(e *Entry) { e.Archived = []Holding{{ContractID: bad}} },
		"archived instrument":    func(e *Entry) { e.Archived[0].Instrument.ID = bad },
		"archived meta":          func(e *Entry) { e.Archived = []Holding{{HoldingView: HoldingView{Meta: Metadata{bad: "v"}}}} },
		"invalid utf-8":          func(e *Entry) { e.Reason = "\xff" },
	}
	for name, f := range spoil {
		e := full()
		f(&e)
		s, ok := firstUnstorable(&e)
		require.False(t, ok, name)
		require.True(t, s == bad || s == "\xff", "%s: reported %q", name, s)
	}
}
