package withdrawal

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cantonx/txhistory/tokenstd"
	"github.com/shopspring/decimal"
)

// Status is where a withdrawal is in its life cycle.
//
//	requested ──► submitted ──► completed
//	    │             │    └──► failed | expired
//	    │             └──► pending_acceptance ──► completed | rejected | withdrawn | expired | failed
//	    └──► (any of submitted's successors: the ledger may be faster than the automation)
//
//	pending_acceptance stays pending_acceptance, on the new instruction, when
//	the registry replaces its instruction (a choice returning a pending
//	result with a successor instruction).
//	recovered: re-created from a completed on-chain transfer whose request was lost.
type Status string

// The statuses. Requested, submitted and pending_acceptance are open: the
// withdrawal may still move and holds its reservations. The others are
// final.
const (
	// StatusRequested: written by the exchange's internal systems (Create),
	// waiting for the withdrawal automation.
	StatusRequested Status = "requested"
	// StatusSubmitted: the automation submitted the transfer; the ledger has
	// not shown it yet.
	StatusSubmitted Status = "submitted"
	// StatusPendingAcceptance: the transfer created a transfer instruction
	// (the receiver has no transfer pre-approval); the receiver has to
	// accept it. The funds are locked on the ledger, still the treasury's.
	StatusPendingAcceptance Status = "pending_acceptance"
	// StatusCompleted: the receiver got the funds (update id, record time
	// and fee are set).
	StatusCompleted Status = "completed"
	// StatusFailed: the transfer cannot happen (no transfer pre-approval
	// for a 1-step transfer, or the ledger reported it failed). User funds
	// were credited back.
	StatusFailed Status = "failed"
	// StatusExpired: the ingested record time passed trecTgt without a
	// transfer, or the ledger showed the transfer instruction expired (its
	// deadline passing alone moves nothing; see the package doc). User
	// funds were credited back.
	StatusExpired Status = "expired"
	// StatusRejected: the receiver rejected the transfer instruction; the
	// funds came back to the treasury. User funds were credited back.
	StatusRejected Status = "rejected"
	// StatusWithdrawn: the treasury withdrew the transfer instruction; the
	// funds came back. User funds were credited back.
	StatusWithdrawn Status = "withdrawn"
	// StatusRecovered: the request was lost (an Integration DB restore) and
	// re-created by the RecoveryHook from a completed on-chain transfer. The
	// funds left the treasury; fields the ledger does not carry are blank
	// unless the hook filled them in.
	StatusRecovered Status = "recovered"
)

// Statuses lists every Status.
func Statuses() []Status {
	return []Status{StatusRequested, StatusSubmitted, StatusPendingAcceptance, StatusCompleted, StatusFailed,
		StatusExpired, StatusRejected, StatusWithdrawn, StatusRecovered}
}

// Open reports whether s is requested, submitted or pending_acceptance.
func (s Status) Open() bool {
	return s == StatusRequested || s == StatusSubmitted || s == StatusPendingAcceptance
}

// PaidOut reports whether the funds left the treasury: completed or
// recovered.
func (s Status) PaidOut() bool { return s == StatusCompleted || s == StatusRecovered }

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses(), s) }

// Request is what the exchange's internal systems write to request a
// withdrawal (Store.Create).
type Request struct {
	// ID identifies the withdrawal. The automation submits the transfer
	// with it as the reason metadata, which is how ingestion ties the
	// transfer to the request. It must pass the store's IsWithdrawalID.
	ID string `json:"id"`
	// UserAccount is the exchange account the funds are withdrawn from.
	UserAccount string `json:"user_account"`
	// Amount is what the receiver gets; positive, with at most 10 digits
	// after the point (a Daml Decimal, as every token standard amount).
	Amount decimal.Decimal `json:"amount"`
	// Instrument is the token withdrawn.
	Instrument tokenstd.Instrument `json:"instrument"`
	// Receiver is the party the funds go to.
	Receiver string `json:"receiver"`
	// ReservedHoldings are the treasury holdings (contract ids of
	// token_holding rows) the transfer spends. Create reserves them: no
	// other open withdrawal can reserve them too.
	ReservedHoldings []string `json:"reserved_holdings"`
	// ReservedFunds is the amount of the user's funds the exchange reserved
	// for the withdrawal (typically Amount plus the expected fee); the
	// Refunder gets it back to the user if the withdrawal does not happen.
	// A withdrawal that completes gives nothing back: what it reserved
	// beyond Transferred + Fee (the fee the ledger charged, known once it
	// is completed) is the exchange's to settle, say from a Handler
	// chained after the Reconciler or from ListByStatus(StatusCompleted).
	ReservedFunds decimal.Decimal `json:"reserved_funds"`
	// TrecTgt is the target record time: the transfer must not commit
	// after it (the automation's Submit derives the transfer's deadline
	// from it; see Submitter). Once
	// the ingested record time is past it with no transfer seen, the
	// withdrawal is expired: strictly past, so that a transfer committed
	// at exactly TrecTgt (which the integration guide allows: "cannot
	// commit after trecTgt") still completes it, and is never refunded.
	// Usually now + ttl.
	TrecTgt time.Time `json:"trec_tgt"`
	// SynchronizerID, if set, names the synchronizer whose record time
	// TrecTgt is compared with. Empty: the store's clock (Config.Synchronizer,
	// or Config.Synchronizers). Until a record time of it is ingested the
	// withdrawal does not expire (Create warns when others have one).
	SynchronizerID string `json:"synchronizer_id,omitempty"`
}

// Withdrawal is a withdrawal request and where it stands.
type Withdrawal struct {
	Request
	Status Status `json:"status"`
	// Recovered is true for a withdrawal re-created from on-chain data by
	// the RecoveryHook after its request was lost.
	Recovered bool `json:"recovered,omitempty"`
	// InstructionCID is the transfer instruction of a multi-step transfer.
	InstructionCID string `json:"instruction_cid,omitempty"`
	// UpdateID, Offset and RecordTime are those of the last transaction
	// that moved the withdrawal: for a completed one, the transfer (or the
	// acceptance of its instruction). Empty while no transaction concerned
	// it, and for withdrawals expired by record time.
	UpdateID   string    `json:"update_id,omitempty"`
	Offset     int64     `json:"offset,omitempty"`
	RecordTime time.Time `json:"record_time"`
	// NodeID is the node of the transfer in that transaction, and
	// LedgerSynchronizerID the synchronizer whose record time RecordTime
	// is. NodeID is -1, and LedgerSynchronizerID empty, when not known: no
	// transaction moved it, or one did before txhistory recorded them
	// (schema version 7).
	NodeID               int32  `json:"node_id"`
	LedgerSynchronizerID string `json:"ledger_synchronizer_id,omitempty"`
	// Transferred is what the transfer moved as the ledger says, Fee what
	// it cost the treasury beyond that (for a transfer instruction, what
	// its offer burned, when it locked the funds, what each successor
	// instruction the registry advanced it to burned, and what its outcome
	// burned). Zero until the ledger showed it;
	// Transferred is zero too while the instruction of a withdrawal is
	// pending acceptance (its funds locked, still the treasury's) and for
	// a withdrawal that ended without paying out (rejected, withdrawn,
	// expired, failed).
	Transferred decimal.Decimal `json:"transferred"`
	Fee         decimal.Decimal `json:"fee"`
	// FailureReason says why a failed withdrawal failed.
	FailureReason string `json:"failure_reason,omitempty"`
	// CreatedAt and UpdatedAt are database times; SubmittedAt is set by
	// MarkSubmitted (MarkFailed then refuses the withdrawal:
	// ErrSubmitAttempted), ClosedAt when a final status was reached.
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	SubmittedAt *time.Time `json:"submitted_at,omitempty"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	// SubmitAttemptedAt is when the Automation first handed the withdrawal
	// to the Submitter (committed before Submit runs): a requested or
	// submitted withdrawal with it set may have a transfer on the ledger,
	// and MarkFailed refuses it (ErrSubmitAttempted). RestoreProcedure sets it
	// on the requested withdrawals a backup restores, and, when it fails
	// (with the gate closed again), on every requested withdrawal with none,
	// even if its Restore step failed before touching the database: those
	// are still submitted once the gate opens, but, the participant refusing
	// one (ErrNoPreapproval), it is left to expire at its trecTgt rather
	// than failed at once.
	SubmitAttemptedAt *time.Time `json:"submit_attempted_at,omitempty"`
}

// MaxIDLen is the longest withdrawal id DefaultWithdrawalID accepts, in bytes.
const MaxIDLen = 256

// DefaultWithdrawalID is the IsWithdrawalID used when none is configured:
// an id is a withdrawal id if it is not empty, at most MaxIDLen bytes of
// valid UTF-8, and free of white space at its ends and of control
// characters. The reason of a treasury transfer that fails this is not a
// withdrawal of the exchange: the reconciler leaves it alone.
func DefaultWithdrawalID(id string) bool {
	if id == "" || len(id) > MaxIDLen || !utf8.ValidString(id) || strings.TrimSpace(id) != id {
		return false
	}
	return strings.IndexFunc(id, unicode.IsControl) < 0
}

// normTime truncates to PostgreSQL's microsecond precision, in UTC.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// normalize returns r with sorted holdings and times in UTC microseconds.
func (r Request) normalize() Request {
	r.ReservedHoldings = slices.Clone(r.ReservedHoldings)
	slices.Sort(r.ReservedHoldings)
	r.TrecTgt = normTime(r.TrecTgt)
	return r
}

// decimalScale is the scale of a Daml Decimal (Numeric 10), the type of
// every token standard amount.
const decimalScale = 10

func (r Request) validate(isID func(string) bool, instruments []tokenstd.Instrument) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: withdrawal %q: %s", ErrInvalidRequest, r.ID, fmt.Sprintf(format, args...))
	}
	switch {
	case !isID(r.ID):
		return bad("the id is not a withdrawal id (Config.IsWithdrawalID): the reconciler would not recognise its transfer")
	case !r.Amount.IsPositive():
		return bad("amount %s is not positive", r.Amount)
	case !r.Amount.Truncate(decimalScale).Equal(r.Amount):
		return bad("amount %s has more than %d digits after the point: a token standard amount is a Daml Decimal (Numeric %d), so no transfer could pay it", r.Amount, decimalScale, decimalScale)
	case r.ReservedFunds.IsNegative():
		return bad("reserved funds %s are negative", r.ReservedFunds)
	case r.Instrument.Admin == "" || r.Instrument.ID == "":
		return bad("instrument %q has no admin or no id", r.Instrument)
	case len(instruments) > 0 && !slices.Contains(instruments, r.Instrument):
		return bad("instrument %q is not among Config.Instruments: ingestion ignores its transfers, so this withdrawal would never be seen paid", r.Instrument)
	case r.Receiver == "":
		return bad("no receiver")
	case r.UserAccount == "":
		return bad("no user account")
	case r.TrecTgt.IsZero():
		return bad("no target record time (trecTgt)")
	case len(r.ReservedHoldings) == 0:
		return bad("no holdings to reserve")
	}
	for i, cid := range r.ReservedHoldings {
		if cid == "" {
			return bad("reserved holding %d is empty", i)
		}
		if i > 0 && r.ReservedHoldings[i-1] == cid {
			return bad("holding %s is listed twice", cid)
		}
	}
	for _, s := range []string{r.ID, r.UserAccount, r.Receiver, r.Instrument.Admin, r.Instrument.ID, r.SynchronizerID} {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return bad("text %q contains a NUL byte or invalid UTF-8", s)
		}
	}
	return nil
}

// sameRequest reports whether a and b (both normalized) ask for the same
// withdrawal.
func sameRequest(a, b Request) bool {
	return a.ID == b.ID && a.UserAccount == b.UserAccount && a.Amount.Equal(b.Amount) && a.Instrument == b.Instrument &&
		a.Receiver == b.Receiver && slices.Equal(a.ReservedHoldings, b.ReservedHoldings) &&
		a.ReservedFunds.Equal(b.ReservedFunds) && a.TrecTgt.Equal(b.TrecTgt) && a.SynchronizerID == b.SynchronizerID
}
