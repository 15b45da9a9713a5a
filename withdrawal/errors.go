package withdrawal

import (
	"errors"
	"fmt"
	"time"
)

// ErrWithdrawalsDisabled is returned (wrapped, with the reason the gate was
// closed) by Create while the withdrawal gate is closed, for instance during
// the Integration DB restore procedure. Try again once it is open. MarkFailed
// returns it (naming the withdrawal) while that procedure restores the
// database, and for a withdrawal it may not judge until it returns (see
// MarkFailedTx).
var ErrWithdrawalsDisabled = errors.New("withdrawal: withdrawals are disabled")

// ErrNotFound is returned (wrapped, naming the id) for a withdrawal id the
// store does not know.
var ErrNotFound = errors.New("withdrawal: no such withdrawal")

// ErrInvalidRequest is returned (wrapped, saying what is wrong) by Create
// for a request that cannot be stored: no amount, no holdings, an id the
// reconciler would not recognise...
var ErrInvalidRequest = errors.New("withdrawal: invalid request")

// ErrIDConflict is returned (wrapped) by Create when a withdrawal with the
// same id but other content exists. The same request again is not an
// error: Create is idempotent.
var ErrIDConflict = errors.New("withdrawal: a different withdrawal with this id exists")

// ErrSubmitAttempted is returned (wrapped, naming the withdrawal) by
// MarkFailed for a requested or submitted withdrawal that the Automation
// has handed to the Submitter (Withdrawal.SubmitAttemptedAt; RestoreProcedure sets it on
// those a backup restores requested, and, when it fails, on every one
// requested, the database restored or not), or that was marked submitted
// (Withdrawal.SubmittedAt, MarkSubmitted): its transfer may be on the
// ledger, or still be accepted, so marking it failed could refund a user
// who is paid as well. It ends by the ledger's outcome, or by expiry once
// the ingested record time passes its trecTgt with no transfer seen.
var ErrSubmitAttempted = errors.New("withdrawal: the withdrawal was handed to the Submitter or marked submitted: its transfer may be on the ledger")

// ErrHoldingUnavailable is matched by a *HoldingError about a holding that
// cannot be reserved: unknown to the holding set, archived, locked, of
// another instrument or owner.
var ErrHoldingUnavailable = errors.New("withdrawal: holding cannot be reserved")

// ErrHoldingReserved is matched by a *HoldingError about a holding that
// another open withdrawal has reserved.
var ErrHoldingReserved = errors.New("withdrawal: holding is reserved by another withdrawal")

// HoldingError says why Create refused a holding. Match it with errors.As,
// or its kind with errors.Is(err, ErrHoldingUnavailable) or
// errors.Is(err, ErrHoldingReserved).
type HoldingError struct {
	Withdrawal string
	ContractID string
	// ReservedBy is the withdrawal that holds the reservation, for
	// ErrHoldingReserved.
	ReservedBy string
	// Reason says what is wrong with an unavailable holding.
	Reason string
	kind   error
}

func (e *HoldingError) Error() string {
	if e.kind == ErrHoldingReserved {
		return fmt.Sprintf("%v: withdrawal %q: holding %s is reserved by withdrawal %q", e.kind, e.Withdrawal, e.ContractID, e.ReservedBy)
	}
	return fmt.Sprintf("%v: withdrawal %q: holding %s %s", e.kind, e.Withdrawal, e.ContractID, e.Reason)
}

// Is matches ErrHoldingUnavailable or ErrHoldingReserved.
func (e *HoldingError) Is(target error) bool { return target == e.kind }

// ErrIllegalTransition is matched by a *TransitionError.
var ErrIllegalTransition = errors.New("withdrawal: illegal status transition")

// TransitionError says that a withdrawal cannot move to a status from the
// one it is in. Repeating a transition that already happened is not an
// error.
type TransitionError struct {
	ID       string
	From, To Status
	// UpdateID is the transaction the requested transition came from, if
	// any; Current the one that last moved the withdrawal.
	UpdateID, CurrentUpdateID string
	// Instruction is the transfer instruction of the requested transition
	// when it is not the one the withdrawal is pending acceptance of,
	// CurrentInstruction ("" otherwise).
	Instruction, CurrentInstruction string
}

func (e *TransitionError) Error() string {
	s := fmt.Sprintf("%v: withdrawal %q is %s, it cannot become %s", ErrIllegalTransition, e.ID, e.From, e.To)
	if e.UpdateID != "" {
		s += fmt.Sprintf(" (by update %s", e.UpdateID)
		if e.CurrentUpdateID != "" {
			s += fmt.Sprintf("; it was moved by update %s", e.CurrentUpdateID)
		}
		s += ")"
	}
	if e.CurrentInstruction != "" {
		other := "a transfer without an instruction"
		if e.Instruction != "" {
			other = "instruction " + e.Instruction
		}
		s += fmt.Sprintf(": it is pending acceptance of instruction %s, not of %s", e.CurrentInstruction, other)
	}
	return s
}

// Is matches ErrIllegalTransition.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// ErrAnomaly is matched by an *Anomaly.
var ErrAnomaly = errors.New("withdrawal: the ledger contradicts the withdrawal records")

// AnomalyKind says what the reconciler found wrong.
type AnomalyKind string

// The anomalies.
const (
	// AnomalyDoubleExecution: a second transfer (or offer) carries the id
	// of a withdrawal that was already paid out, or that is pending
	// acceptance of another transfer instruction (which the treasury can
	// still withdraw).
	AnomalyDoubleExecution AnomalyKind = "double_execution"
	// AnomalyIllegalTransition: the ledger shows an outcome the
	// withdrawal's status does not allow, for instance a completed transfer
	// of a withdrawal that was expired (and refunded) before.
	AnomalyIllegalTransition AnomalyKind = "illegal_transition"
	// AnomalyMismatch: the transfer moved another amount or instrument, or
	// went to another receiver, than the request says. The outcome was
	// applied: the ledger is the truth about the funds.
	AnomalyMismatch AnomalyKind = "mismatch"
)

// Anomaly is a ledger outcome that contradicts the withdrawal records:
// money may have been paid out twice, or to the wrong place. The
// reconciler hands it to ReconcilerConfig.OnAnomaly, which by default
// returns it, so the batch is not committed and ingestion stops with it.
type Anomaly struct {
	Kind AnomalyKind
	// Outcome is what the ledger shows.
	Outcome Outcome
	// Withdrawal is the record as it is (after the outcome was applied,
	// for AnomalyMismatch).
	Withdrawal *Withdrawal
	// Detail says what does not fit.
	Detail string
}

func (a *Anomaly) Error() string {
	return fmt.Sprintf("%v: %s: withdrawal %q, update %s at offset %d (record time %s): %s", ErrAnomaly, a.Kind,
		a.Outcome.ID, a.Outcome.UpdateID, a.Outcome.Offset, a.Outcome.RecordTime.Format(time.RFC3339Nano), a.Detail)
}

// Is matches ErrAnomaly.
func (a *Anomaly) Is(target error) bool { return target == ErrAnomaly }
