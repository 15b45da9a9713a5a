package tokenstd_test

import (
	"fmt"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
)

// Classify a scripted history without a database: a deposit with a fee
// paid by the customer, then a withdrawal with change and a fee.
func ExampleClassify() {
	const treasury = "treasury::1220ex"
	w := &ledgertest.TokenWorld{Sequence: true}
	txs := []*ledger.Transaction{
		w.Mint("alice::1220a1", "100"),
		w.Transfer(ledgertest.TransferSpec{Sender: "alice::1220a1", Receiver: treasury, Amount: "60", Fee: "0.5", Reason: "acct-42"}),
		w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: "bob::1220b2", Amount: "25", Fee: "0.25", Reason: "wd-7"}),
	}
	set := tokenstd.NewHoldingSet()
	for _, full := range txs {
		tx := ledgertest.TokenProjection(full, treasury) // what the treasury's participant delivers
		if tx == nil {
			continue // alice's mint does not concern the treasury
		}
		entries, err := tokenstd.Classify(tx, treasury, set)
		if err != nil {
			fmt.Println(err)
			return
		}
		set.Apply(entries)
		for _, e := range entries {
			fmt.Printf("%s %s: amount %s, fee %s, account %q, withdrawal %q\n", e.UpdateID, e.Kind, e.Amount, e.Fee, e.Account, e.WithdrawalID)
		}
	}
	for inst, b := range set.Balances() {
		fmt.Println("balance", inst, b)
	}
	// Output:
	// upd-2 deposit: amount 60, fee 0, account "acct-42", withdrawal ""
	// upd-3 withdrawal: amount -25.25, fee 0.25, account "", withdrawal "wd-7"
	// balance Amulet@DSO::1220d50 34.75
}
