package tokenstd

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Kind says what a history entry records.
type Kind string

// The kinds of history entries. Amount is always the treasury's net change;
// the descriptions say what else is set.
const (
	// KindDeposit: the treasury received funds for the account named by the
	// reason: a 1-step transfer, or an incoming transfer instruction the
	// treasury accepted. Account is set; Amount is what to credit.
	KindDeposit Kind = "deposit"
	// KindDepositUnassigned: the treasury received funds but the reason
	// names no usable account (empty, or rejected by the account
	// function or by the DepositCrediter). Kept for manual handling.
	KindDepositUnassigned Kind = "deposit_unassigned"
	// KindWithdrawal: the treasury sent funds: a 1-step transfer, or an
	// outgoing transfer instruction the receiver accepted. WithdrawalID is
	// the reason; Amount = −(Transferred + Fee).
	KindWithdrawal Kind = "withdrawal"
	// KindFee: holdings burned outside a transfer (tx-kind burn or
	// expire-dust). Fee = −Amount.
	KindFee Kind = "fee"
	// KindMergeSplit: the treasury transferred to itself or merged and split
	// its holdings. Fee = −Amount, usually zero.
	KindMergeSplit Kind = "merge_split"
	// KindOfferIn: a transfer instruction to the treasury is pending its
	// acceptance. Nothing to credit yet; Transferred is the offered amount.
	KindOfferIn Kind = "transfer_offer_in"
	// KindOfferOut: a transfer instruction from the treasury is pending
	// the receiver's acceptance; the funds are locked, still the treasury's.
	KindOfferOut Kind = "transfer_offer_out"
	// KindRejected: the receiver rejected a transfer instruction; locked
	// funds went back to the sender.
	KindRejected Kind = "transfer_rejected"
	// KindWithdrawn: the sender withdrew a transfer instruction.
	KindWithdrawn Kind = "transfer_withdrawn"
	// KindExpired: a transfer instruction ended without completing after
	// its executeBefore deadline.
	KindExpired Kind = "transfer_expired"
	// KindFailed: a transfer or transfer instruction failed for another
	// reason, or an instruction ended by a choice outside the standard
	// before its deadline. Such a choice whose metadata says tx-kind
	// transfer, and whose funds moved as the transfer says (the treasury
	// got them as receiver, or lost at least the amount as sender), is the
	// transfer done instead: a deposit or a withdrawal.
	KindFailed Kind = "transfer_failed"
	// KindLock: treasury funds were locked outside a transfer.
	KindLock Kind = "lock"
	// KindUnlock: treasury funds were unlocked (tx-kind unlock, or a locked
	// holding replaced by an unlocked one).
	KindUnlock Kind = "unlock"
	// KindMint: holdings were minted to the treasury (tx-kind mint).
	KindMint Kind = "mint"
	// KindOther: the treasury's holdings changed in a way none of the
	// above describes. Recorded, never credited. Among them: holdings that
	// arrive with the treasury party itself (an ACS import, party
	// migration or replication: created events with no transfer, often
	// many at one record time) and repairs that archive or create a
	// treasury holding; balances read from live holdings count them.
	KindOther Kind = "other"
)

// Kinds lists every Kind.
func Kinds() []Kind {
	return []Kind{KindDeposit, KindDepositUnassigned, KindWithdrawal, KindFee, KindMergeSplit, KindOfferIn,
		KindOfferOut, KindRejected, KindWithdrawn, KindExpired, KindFailed, KindLock, KindUnlock, KindMint, KindOther}
}

// Entry is one line of the treasury's history: one token standard
// operation in one transaction, for one instrument.
//
// Entries are keyed by (UpdateID, NodeID, Kind, Instrument): classifying
// the same transaction again gives the same entries.
type Entry struct {
	// Seq is the entry's place in ingestion order, as ListEntries reads it
	// (0 for an entry it did not read): the cursor of EntryFilter.AfterSeq.
	Seq            int64     `json:"seq,omitempty"`
	UpdateID       string    `json:"update_id"`
	Offset         int64     `json:"offset"`
	RecordTime     time.Time `json:"record_time"`
	SynchronizerID string    `json:"synchronizer_id,omitempty"`
	// NodeID is the node of the operation: the exercise of the transfer or
	// instruction choice, the exercise carrying the tx-kind, or, for
	// changes outside any operation, the outermost exercise (or the event)
	// containing them.
	NodeID int32 `json:"node_id"`
	Kind   Kind  `json:"kind"`
	// TxKind is the tx-kind metadata value of the operation, if any.
	TxKind string `json:"tx_kind,omitempty"`
	// Choice is the choice exercised at NodeID, if any.
	Choice     string     `json:"choice,omitempty"`
	Instrument Instrument `json:"instrument"`
	// Amount is the treasury's net change: its holdings created minus its
	// holdings archived by the operation. Negative for outflows.
	Amount decimal.Decimal `json:"amount"`
	// Transferred is the amount the transfer moved between sender and
	// receiver, zero when there is no transfer.
	Transferred decimal.Decimal `json:"transferred"`
	// Fee is what the operation cost the treasury beyond Transferred:
	// burned fees. Zero when someone else paid.
	Fee decimal.Decimal `json:"fee"`
	// Sender and Receiver of the transfer, when known.
	Sender   string `json:"sender,omitempty"`
	Receiver string `json:"receiver,omitempty"`
	// Counterparty is the other side of a transfer: the sender of a deposit,
	// the receiver of a withdrawal.
	Counterparty string `json:"counterparty,omitempty"`
	// Reason is the transfer's reason metadata, verbatim: the merged
	// metadata's (later wins) for a 1-step transfer. For a transfer
	// instruction (the offer and whatever ends it) it is its transfer.meta's
	// when that has one, else the offer's merged metadata's, else that of
	// the instruction view's own meta, so that an offer and its acceptance
	// always carry the same reason, whatever later metadata says; Meta has
	// the merged metadata.
	Reason string `json:"reason,omitempty"`
	// Account is the deposit account taken from Reason, for KindDeposit
	// and KindOfferIn.
	Account string `json:"account,omitempty"`
	// WithdrawalID is the reason of a transfer the treasury sent to
	// another party (none for a transfer to itself, offered or done).
	WithdrawalID string `json:"withdrawal_id,omitempty"`
	// InstructionCID is the transfer instruction concerned: the new one for
	// offers, the consumed one for their outcomes.
	InstructionCID string `json:"instruction_cid,omitempty"`
	// Instruction is the transfer instruction an offer created.
	Instruction *Instruction `json:"instruction,omitempty"`
	// Created and Archived are the treasury holdings the operation created
	// and archived, in node order.
	Created  []Holding `json:"created,omitempty"`
	Archived []Holding `json:"archived,omitempty"`
	// Meta is the operation's merged metadata. Of an operation's entries
	// (all at its node) one has it: the first withdrawal, else the first
	// that is not an `other` entry, else the first; the entries of other
	// instruments' changes inside it have none.
	Meta Metadata `json:"meta,omitempty"`
}

// Position returns where the entry's operation is on the ledger.
func (e *Entry) Position() Position {
	return Position{UpdateID: e.UpdateID, Offset: e.Offset, RecordTime: e.RecordTime, NodeID: e.NodeID}
}

// AccountFunc maps a deposit's reason to the account to credit, or reports
// that the reason names no usable account. It must depend on the reason
// alone and be safe for concurrent use: the History handler also calls it
// from its Prepare, ahead of the batch and concurrently with HandleBatch.
type AccountFunc func(reason string) (account string, ok bool)

// MaxAccountLen is the longest reason DefaultAccount accepts, in runes.
const MaxAccountLen = 256

// DefaultAccount is the AccountFunc used when none is configured: the
// reason with surrounding white space removed is the account, if it is not
// empty, at most MaxAccountLen runes long, valid UTF-8 and free of control
// characters and of U+FFFD (the replacement character, which metadata
// holds for each NUL the sender wrote: see Metadata).
func DefaultAccount(reason string) (string, bool) {
	s := strings.TrimSpace(reason)
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxAccountLen {
		return "", false
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }) >= 0 {
		return "", false
	}
	return s, true
}
