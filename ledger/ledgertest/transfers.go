package ledgertest

import (
	"fmt"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/shopspring/decimal"
)

// Defaults of TransferHistory's fields.
const (
	TransferDefaultCustomers     = 100
	TransferDefaultWithdrawEvery = 10
	TransferDefaultExternal      = "exchange-b::1220bench"
)

// TransferHistory makes a long history of 1-step token standard transfers
// with a treasury, for benchmarks and soak tests. Tx(i) depends on i alone,
// so transactions can be made in any order and on demand: hand Tx to
// Participant.AppendFunc and a million of them cost the fake almost nothing
// until a stream reaches them.
//
// Transaction i is a deposit: a customer's TransferFactory_Transfer of
// DepositAmount(i) to the treasury, with the reason "acct-<customer>", that
// spends one holding of the customer and returns the change. Every
// WithdrawEvery-th transaction is instead a withdrawal: the treasury sends
// WithdrawalAmount (and burns WithdrawalFee) to External, spending the
// holding the deposit just before it created, and keeps the change. The
// transactions are built by a TokenWorld, so they have the shapes of its
// Transfer; the customers' holdings they spend come from mints that are not
// part of the history, as if they happened before it began. Contract ids
// are unique across the history.
//
// The zero value (but for Treasury) uses the defaults above.
type TransferHistory struct {
	// Treasury receives the deposits and makes the withdrawals. Required.
	Treasury string
	// Customers is how many customers deposit, in turn.
	// Default TransferDefaultCustomers.
	Customers int
	// WithdrawEvery makes every n-th transaction (i = n, 2n, ...) a
	// withdrawal. Default TransferDefaultWithdrawEvery; negative: none. 1
	// is refused (Tx panics): a withdrawal spends what the deposit just
	// before it gave the treasury, so withdrawals cannot follow each other.
	WithdrawEvery int
	// External receives the withdrawals. Default TransferDefaultExternal.
	External string
	// CantonIDs makes the customers' and External's party ids, the
	// instrument admin and the contract ids as long as a Canton
	// participant's (a hint, "::1220" and 64 hex digits; contract ids of
	// about 140 hex digits). Pair it with WithCantonUpdateIDs.
	CantonIDs bool
}

// The fixed parts of a withdrawal.
const (
	WithdrawalAmount = "5"
	WithdrawalFee    = "0.1"
)

// cidsPerTx is how many contract ids each transaction may use: transaction
// i uses 00holding<8i+1> to 00holding<8i+7>.
const cidsPerTx = 8

// IsWithdrawal reports whether transaction i is a withdrawal.
func (h TransferHistory) IsWithdrawal(i int) bool {
	every := h.WithdrawEvery
	if every == 0 {
		every = TransferDefaultWithdrawEvery
	}
	return every > 0 && i > 0 && i%every == 0
}

// DepositAmount is what deposit i transfers: between 10 and 106.99.
func (h TransferHistory) DepositAmount(i int) string {
	return fmt.Sprintf("%d.%02d", 10+i%97, i%100)
}

// Customer returns the party that makes deposit i, and its account.
func (h TransferHistory) Customer(i int) (party, account string) {
	n := h.Customers
	if n <= 0 {
		n = TransferDefaultCustomers
	}
	party = fmt.Sprintf("customer-%d::1220bench", i%n)
	if h.CantonIDs {
		party = CantonID(fmt.Sprintf("customer-%d::1220", i%n), party)
	}
	return party, fmt.Sprintf("acct-%d", i%n)
}

// Tx returns transaction i (i ≥ 0), without offset, update id or record
// time, for Participant.Append or AppendFunc to assign.
func (h TransferHistory) Tx(i int) *ledger.Transaction {
	w := h.world(i)
	var tx *ledger.Transaction
	if h.IsWithdrawal(i) {
		// Re-create the holding deposit i-1 gave the treasury, under its
		// contract id, then spend it.
		w.cids = (i-1)*cidsPerTx + 1
		w.Mint(h.Treasury, h.DepositAmount(i-1))
		w.cids = i * cidsPerTx
		wd := h.withdrawal(w, i)
		tx = w.Transfer(TransferSpec{Sender: h.Treasury, Receiver: wd.Receiver, Amount: wd.Amount, Fee: WithdrawalFee,
			Reason: wd.ID, InputHoldings: []string{wd.Input}})
	} else {
		customer, account := h.Customer(i)
		amount := h.DepositAmount(i)
		w.cids = i * cidsPerTx
		w.Mint(customer, decimal.RequireFromString(amount).Add(decimal.NewFromInt(1000)).String())
		tx = w.Transfer(TransferSpec{Sender: customer, Receiver: h.Treasury, Amount: amount, Reason: account})
	}
	tx.CommandID = fmt.Sprintf("transfer-%d", i)
	return tx
}

// world is the TokenWorld that makes transaction i.
func (h TransferHistory) world(i int) *TokenWorld {
	if h.Treasury == "" {
		panic("ledgertest: TransferHistory.Treasury is empty")
	}
	if h.WithdrawEvery == 1 {
		panic("ledgertest: TransferHistory.WithdrawEvery is 1: a withdrawal needs the deposit just before it (use 2 or more)")
	}
	// The world clock (creation and request times) follows the record
	// times a Participant assigns: 1ms apart from DefaultStartTime.
	w := &TokenWorld{Start: DefaultStartTime.Add(time.Duration(i) * time.Millisecond), Step: time.Microsecond, CantonIDs: h.CantonIDs}
	if h.CantonIDs {
		w.Admin = CantonID("DSO::1220", TokenDefaultAdmin)
	}
	w.init()
	return w
}

// WithdrawalSpec is what a withdrawal of a TransferHistory does, as the
// exchange's withdrawal request would have said beforehand.
type WithdrawalSpec struct {
	// ID is the transfer's reason: "wd-<i>".
	ID       string
	Receiver string
	// Amount is what Receiver gets (WithdrawalAmount); the treasury also
	// burns WithdrawalFee.
	Amount     string
	Instrument TokenInstrument
	// Input is the contract id of the treasury holding the transfer
	// spends, the one deposit i-1 created.
	Input string
}

// Withdrawal returns what transaction i does if it is a withdrawal, and
// false if it is a deposit.
func (h TransferHistory) Withdrawal(i int) (WithdrawalSpec, bool) {
	if !h.IsWithdrawal(i) {
		return WithdrawalSpec{}, false
	}
	return h.withdrawal(h.world(i), i), true
}

func (h TransferHistory) withdrawal(w *TokenWorld, i int) WithdrawalSpec {
	external := h.External
	if external == "" {
		external = TransferDefaultExternal
		if h.CantonIDs {
			external = CantonID("exchange-b::1220", external)
		}
	}
	return WithdrawalSpec{ID: fmt.Sprintf("wd-%d", i), Receiver: external, Amount: WithdrawalAmount,
		Instrument: w.Instrument(), Input: w.cid("holding", (i-1)*cidsPerTx+2)}
}
