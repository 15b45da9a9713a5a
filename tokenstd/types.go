package tokenstd

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/shopspring/decimal"
)

// Metadata keys the token standard reserves and ingestion reads. Values are
// free text set by the wallet, the registry or the exchange.
const (
	// MetaTxKind says what kind of operation an exercise performed; see the
	// TxKind constants.
	MetaTxKind = "splice.lfdecentralizedtrust.org/tx-kind"
	// MetaSender names the party that sent a transfer.
	MetaSender = "splice.lfdecentralizedtrust.org/sender"
	// MetaReason is free text chosen by the sender: the deposit account id
	// for deposits, the withdrawal id for the exchange's withdrawals.
	MetaReason = "splice.lfdecentralizedtrust.org/reason"
	// MetaBurned is the amount burned by the operation, as a decimal. It
	// is read, and a malformed or negative one is a ParseError, only in
	// the treasury's own transfers (where it is the treasury's fee), and
	// there only from the registry's metadata (the result's): in another
	// party's transfer, to the treasury too, the registry may be anyone's.
	MetaBurned = "splice.lfdecentralizedtrust.org/burned"
)

// Values of MetaTxKind defined by the token standard.
const (
	TxKindTransfer   = "transfer"
	TxKindMergeSplit = "merge-split"
	TxKindBurn       = "burn"
	TxKindMint       = "mint"
	TxKindUnlock     = "unlock"
	TxKindExpireDust = "expire-dust"
)

// Instrument identifies a token: the party administering it (its registry)
// and the id the registry gave it. Two instruments with the same id but
// different admins are different tokens.
type Instrument struct {
	Admin string `json:"admin"`
	ID    string `json:"id"`
}

// String renders the instrument as "id@admin".
func (i Instrument) String() string { return i.ID + "@" + i.Admin }

// CheckInstruments refuses a list of instruments (Config.Instruments, and
// withdrawal.Config.Instruments with it) holding one without an admin or
// an id.
func CheckInstruments(list []Instrument) error {
	for i, inst := range list {
		if inst.Admin == "" || inst.ID == "" {
			return fmt.Errorf("Config.Instruments[%d] (%q): both the admin party and the id are required", i, inst.String())
		}
	}
	return nil
}

// Metadata is the token standard's Metadata record: a map of text values.
// Keys of the form "domain/name" are namespaced by DNS domain. Decoded, a
// NUL character in a key or value reads as U+FFFD (PostgreSQL cannot
// store a NUL, and metadata is its writer's free text: a depositor's NUL
// must not make the deposit unstorable); where two keys then read the
// same, the first stays.
type Metadata map[string]string

// Merge returns a new Metadata holding m's entries overwritten by those of
// each of later, in order: later wins. Nil inputs are skipped, and the
// result is nil when every input is empty.
func (m Metadata) Merge(later ...Metadata) Metadata {
	n := len(m)
	for _, l := range later {
		n = max(n, len(l))
	}
	if n == 0 {
		return nil
	}
	out := make(Metadata, n)
	maps.Copy(out, m)
	for _, l := range later {
		maps.Copy(out, l)
	}
	return out
}

// Lock is a holding's lock: the parties that must agree to unlock it before
// its owner can use it, and until when.
type Lock struct {
	Holders []string `json:"holders"`
	// ExpiresAt is the absolute expiry, if any.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// ExpiresAfter is the expiry relative to when the lock was last
	// renewed, if any.
	ExpiresAfter *time.Duration `json:"expires_after,omitempty"`
	// Context describes why the funds are locked; empty when absent.
	Context string `json:"context,omitempty"`
}

// HoldingView is the view of a contract through the HoldingV1 Holding
// interface: an amount of one instrument owned by one party.
type HoldingView struct {
	Owner      string          `json:"owner"`
	Instrument Instrument      `json:"instrument"`
	Amount     decimal.Decimal `json:"amount"`
	Lock       *Lock           `json:"lock,omitempty"`
	Meta       Metadata        `json:"meta,omitempty"`
}

// Position says where in the ledger something happened: the transaction
// and, inside it, the event's node id.
type Position struct {
	UpdateID   string    `json:"update_id"`
	Offset     int64     `json:"offset"`
	RecordTime time.Time `json:"record_time"`
	NodeID     int32     `json:"node_id"`
}

// Holding is a holding contract of the treasury, as tracked in the holding
// set.
type Holding struct {
	ContractID string `json:"contract_id"`
	HoldingView
	// Created is where the holding was created.
	Created Position `json:"-"`
	// Archived is where it was archived; nil while it is live.
	Archived *Position `json:"-"`
}

// Transfer is the token standard's description of a transfer: who sends how
// much of which instrument to whom, using which of the sender's holdings,
// and in which time window it may execute.
type Transfer struct {
	Sender           string          `json:"sender"`
	Receiver         string          `json:"receiver"`
	Amount           decimal.Decimal `json:"amount"`
	Instrument       Instrument      `json:"instrument"`
	RequestedAt      time.Time       `json:"requested_at"`
	ExecuteBefore    time.Time       `json:"execute_before"`
	InputHoldingCIDs []string        `json:"input_holding_cids"`
	Meta             Metadata        `json:"meta,omitempty"`
}

// ExtraArgs are the extra arguments every token standard choice takes: a
// choice context supplied by the registry and metadata supplied by the
// caller.
type ExtraArgs struct {
	// Context maps context keys to their values (AnyValue variants), left
	// undecoded: ingestion does not interpret them.
	Context map[string]ledger.Value `json:"-"`
	Meta    Metadata                `json:"meta,omitempty"`
}

// InstructionStatus is the status of a pending transfer instruction.
type InstructionStatus string

// The TransferInstructionStatus constructors.
const (
	// StatusPendingReceiverAcceptance: the receiver has to accept or reject.
	StatusPendingReceiverAcceptance InstructionStatus = "TransferPendingReceiverAcceptance"
	// StatusPendingInternalWorkflow: the registry or other parties have
	// steps to take (see PendingActions).
	StatusPendingInternalWorkflow InstructionStatus = "TransferPendingInternalWorkflow"
)

// TransferInstructionView is the view of a contract through the
// TransferInstruction interface: a transfer waiting for further steps.
type TransferInstructionView struct {
	// OriginalInstructionCID is the instruction this one replaces in a
	// multi-step workflow; empty for the first.
	OriginalInstructionCID string            `json:"original_instruction_cid,omitempty"`
	Transfer               Transfer          `json:"transfer"`
	Status                 InstructionStatus `json:"status"`
	// PendingActions maps parties to the action they are expected to take,
	// for StatusPendingInternalWorkflow.
	PendingActions map[string]string `json:"pending_actions,omitempty"`
	Meta           Metadata          `json:"meta,omitempty"`
}

// Instruction is a transfer instruction that concerns the treasury (as
// sender or receiver), as tracked between its creation and its outcome.
type Instruction struct {
	ContractID string `json:"contract_id"`
	TransferInstructionView
	// Replaces is the instruction this one replaced, when it was created by
	// a choice on an earlier instruction of the same transfer.
	Replaces string `json:"replaces,omitempty"`
	// Reason is the offer's reason when its transfer.meta has none (taken
	// from the offer's merged metadata, else from the view's Meta), so
	// that whatever ends the instruction carries the offer's reason.
	Reason string `json:"reason,omitempty"`
	// Created is where the instruction was created.
	Created Position `json:"-"`
}

// OutputKind is the constructor of a TransferInstructionResult_Output.
type OutputKind string

// The TransferInstructionResult_Output constructors.
const (
	// OutputPending: a transfer instruction was created and waits for more
	// steps (multi-step transfer).
	OutputPending OutputKind = "pending"
	// OutputCompleted: the receiver got the funds.
	OutputCompleted OutputKind = "completed"
	// OutputFailed: the transfer did not happen; the sender's funds are
	// returned (see SenderChangeCIDs).
	OutputFailed OutputKind = "failed"
)

// TransferInstructionResult is the result of TransferFactory_Transfer and of
// the TransferInstruction choices.
type TransferInstructionResult struct {
	Output OutputKind `json:"output"`
	// InstructionCID is the new instruction, for OutputPending.
	InstructionCID string `json:"instruction_cid,omitempty"`
	// ReceiverHoldingCIDs are the receiver's new holdings, for OutputCompleted.
	ReceiverHoldingCIDs []string `json:"receiver_holding_cids,omitempty"`
	// SenderChangeCIDs are the holdings returned to the sender.
	SenderChangeCIDs []string `json:"sender_change_cids,omitempty"`
	Meta             Metadata `json:"meta,omitempty"`
}

// TransferFactoryTransfer is the argument of the TransferFactory_Transfer
// choice.
type TransferFactoryTransfer struct {
	ExpectedAdmin string    `json:"expected_admin"`
	Transfer      Transfer  `json:"transfer"`
	ExtraArgs     ExtraArgs `json:"extra_args"`
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	return slices.Sorted(maps.Keys(m))
}
