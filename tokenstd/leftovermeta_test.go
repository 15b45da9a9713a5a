package tokenstd_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
)

// A registry's choice (tx-kind transfer, reason wd-1) pays 40 Amulet of
// the treasury to alice and, inside it, gives the treasury holdings of n
// instruments of mallory's; its result's metadata holds a value of 64 kB.
// Each other instrument's change is an entry of its own at the
// operation's node (with no Config.Instruments, a deposit to the account
// the reason names), and each copied the operation's metadata: n + 1
// copies of the 64 kB to write. mallory can do the same in a choice of her
// own around a deposit to the treasury (a review measured 2,000
// instruments and a megabyte of metadata: two gigabytes to write from one
// transaction of about two megabytes). The metadata is the operation's
// entry's; the others carry none (the operation's entry at the same node
// has it).
func TestLeftoverEntriesDoNotCopyTheOperationsMetadata(t *testing.T) {
	const n = 40
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	funds := view(w.Mint(treasury, "100"))
	ops := []ledgertest.TokenOp{w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "40", Reason: "wd-1"})}
	for i := range n {
		ops = append(ops, w.MintOp(treasury, "1", ledgertest.TokenInstrument{Admin: forger, ID: fmt.Sprintf("MAL%d", i)}))
	}
	pay := view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury, Choice: "Registry_Transfer"}, ops...)))
	big := strings.Repeat("x", 64<<10)
	editResult(t, pay, 0, nil, addField("meta", metadataValue(map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaReason: "wd-1", "note": big})))
	es := classifyAfter(t, pay, funds)
	require.Len(t, es, n+1, "%+v", es)
	var withNote []string
	for _, e := range es {
		if e.Meta["note"] != "" {
			withNote = append(withNote, e.Instrument.ID)
		}
	}
	require.Equal(t, []string{"Amulet"}, withNote, "the 64 kB metadata is the operation's entry's, written once, not once per leftover entry")
}

// The operation's metadata stays on its withdrawal entry, the treasury's
// own operation, not on the entry that comes first: here mallory's
// instruments change before the treasury's Amulet in the choice, so their
// entries (deposits, with no Config.Instruments) are listed first. The
// first rule (the first entry that is not `other`) put the withdrawal's
// note on mallory's first deposit.
func TestOperationsMetadataStaysOnItsWithdrawalEntry(t *testing.T) {
	view := func(tx *ledger.Transaction) *ledger.Transaction { return ledgertest.TokenProjection(tx, treasury) }
	w := &ledgertest.TokenWorld{Sequence: true}
	funds := view(w.Mint(treasury, "100"))
	var ops []ledgertest.TokenOp
	for i := range 3 {
		ops = append(ops, w.MintOp(treasury, "1", ledgertest.TokenInstrument{Admin: forger, ID: fmt.Sprintf("MAL%d", i)}))
	}
	ops = append(ops, w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: alice, Amount: "40", Reason: "wd-1"}))
	pay := view(w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury, Choice: "Registry_Transfer"}, ops...)))
	editResult(t, pay, 0, nil, addField("meta", metadataValue(map[string]string{tokenstd.MetaTxKind: tokenstd.TxKindTransfer, tokenstd.MetaReason: "wd-1", "note": "kept"})))
	es := classifyAfter(t, pay, funds)
	require.Len(t, es, 4, "%+v", es)
	require.NotEqual(t, "Amulet", es[0].Instrument.ID, "the leftovers come first here, or the test does not tell the two choices apart: %+v", es)
	var withNote []string
	for _, e := range es {
		if e.Meta["note"] != "" {
			withNote = append(withNote, fmt.Sprintf("%s %s", e.Kind, e.Instrument.ID))
		}
	}
	require.Equal(t, []string{string(tokenstd.KindWithdrawal) + " Amulet"}, withNote)
}
