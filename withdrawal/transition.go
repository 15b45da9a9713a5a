package withdrawal

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// rule is what a transition to a status needs and does.
type rule struct {
	// from are the statuses it may start from.
	from []Status
	// release drops the withdrawal's holding reservations: the holdings
	// were spent by its transfer, or it will not spend them.
	release bool
	// refund calls the Refunder: the funds did not leave the treasury.
	refund bool
	// final sets closed_at.
	final bool
}

var (
	beforeLedger = []Status{StatusRequested, StatusSubmitted}
	anyOpen      = []Status{StatusRequested, StatusSubmitted, StatusPendingAcceptance}
)

// rules are the life cycle. A withdrawal still requested may move on as if
// submitted: the ledger can show the transfer before the automation has
// marked it, and a restore of the Integration DB can undo the mark.
var rules = map[Status]rule{
	StatusSubmitted:         {from: []Status{StatusRequested}},
	StatusPendingAcceptance: {from: beforeLedger, release: true},
	StatusCompleted:         {from: anyOpen, release: true, final: true},
	StatusFailed:            {from: anyOpen, release: true, refund: true, final: true},
	StatusExpired:           {from: anyOpen, release: true, refund: true, final: true},
	StatusRejected:          {from: []Status{StatusPendingAcceptance}, release: true, refund: true, final: true},
	StatusWithdrawn:         {from: []Status{StatusPendingAcceptance}, release: true, refund: true, final: true},
}

// Transitions returns the life cycle: for each status a withdrawal can be
// moved to, the statuses it can be moved from. Recovered withdrawals are
// created in their status by the reconciler, not moved there; a completed
// transfer of a recovered withdrawal makes it recovered rather than
// completed.
func Transitions() map[Status][]Status {
	out := make(map[Status][]Status, len(rules))
	for to, r := range rules {
		out[to] = slices.Clone(r.from)
	}
	return out
}

func statusNames(ss []Status) pq.StringArray {
	out := make(pq.StringArray, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// move runs the transition of withdrawal id to status to as one statement:
// an UPDATE guarded by the allowed from-statuses that also sets the given
// columns (set, with arguments from $3 on) and, if the rule says so,
// deletes the reservations. It returns the moved withdrawal, or nil if it
// was not in a from-status (or does not exist). The Refunder runs after a
// move whose rule refunds.
func (s *Store) move(ctx context.Context, tx *sqlx.Tx, id string, to Status, set string, args ...any) (*Withdrawal, error) {
	return s.moveFrom(ctx, tx, id, to, rules[to].from, "", set, args...)
}

// moveFrom is move from the given statuses rather than the rule's, and
// only where the condition where (if not empty) holds too.
func (s *Store) moveFrom(ctx context.Context, tx *sqlx.Tx, id string, to Status, from []Status, where, set string, args ...any) (*Withdrawal, error) {
	r := rules[to]
	statusExpr := fmt.Sprintf("'%s'", to)
	if to == StatusCompleted {
		statusExpr = fmt.Sprintf(`CASE WHEN recovered THEN '%s' ELSE '%s' END`, StatusRecovered, StatusCompleted)
	}
	closed := "closed_at"
	if r.final {
		closed = "now()"
	}
	if set != "" {
		set = ", " + set
	}
	if where != "" {
		where = " AND (" + where + ")"
	}
	query := `WITH moved AS (
			UPDATE ` + s.withdrawals + ` SET status = ` + statusExpr + `, updated_at = now(), closed_at = ` + closed + set + `
			WHERE id = $1 AND status = ANY($2)` + where + `
			RETURNING *
		)`
	if r.release {
		query += `, released AS (
			DELETE FROM ` + s.reservations + ` AS r USING moved WHERE r.withdrawal_id = moved.id
		)`
	}
	query += ` SELECT ` + columns + ` FROM moved`
	w, err := selectOne(ctx, tx, query, append([]any{id, statusNames(from)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: moving %q to %s: %w", id, to, err)
	}
	if w != nil && r.refund {
		if err := s.refund(ctx, tx, w); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (s *Store) refund(ctx context.Context, tx *sqlx.Tx, w *Withdrawal) error {
	if s.cfg.Refunder == nil {
		return nil
	}
	if err := s.cfg.Refunder.Refund(ctx, tx, w); err != nil {
		return fmt.Errorf("withdrawal: refunding %q (%s): %w", w.ID, w.Status, err)
	}
	return nil
}

// MarkSubmitted records that the automation submitted the withdrawal's
// transfer, in a transaction of its own. See MarkSubmittedTx.
func (s *Store) MarkSubmitted(ctx context.Context, id string) (w *Withdrawal, err error) {
	err = s.inTx(ctx, fmt.Sprintf("marking %q submitted", id), func(tx *sqlx.Tx) error {
		w, err = s.MarkSubmittedTx(ctx, tx, id)
		return err
	})
	return w, err
}

// MarkSubmittedTx moves a requested withdrawal to submitted, in one
// statement inside the caller's transaction, and returns it. A withdrawal
// that is past requested already (the ledger was faster, or it was marked
// before) is left as it is and returned without error: the mark only says
// the transfer is on its way. Once marked, MarkFailed refuses it
// (ErrSubmitAttempted): only the ledger's outcome or expiry at its trecTgt
// ends it. A submission loop of the exchange's own that may still learn of
// a definite failure after the participant took its command (an
// asynchronous submission's completion) waits for that before marking it
// submitted, and on a failure marks it failed instead; else the withdrawal
// expires at its trecTgt. An unknown id is ErrNotFound. Like CreateTx, it
// refuses a schema not at this build's version
// (schema.ErrUnknownVersion, schema.ErrNotMigrated).
func (s *Store) MarkSubmittedTx(ctx context.Context, tx *sqlx.Tx, id string) (*Withdrawal, error) {
	if err := s.checkSchema(ctx, tx, fmt.Sprintf("marking %q submitted", id)); err != nil {
		return nil, err
	}
	return s.markSubmitted(ctx, tx, id)
}

// markSubmitted is MarkSubmittedTx in a transaction that checked the
// schema's version (the Automation's submission).
func (s *Store) markSubmitted(ctx context.Context, tx *sqlx.Tx, id string) (*Withdrawal, error) {
	w, err := s.move(ctx, tx, id, StatusSubmitted, `submitted_at = now()`)
	if err != nil || w != nil {
		return w, err
	}
	return s.get(ctx, tx, id)
}

// MarkFailed marks a withdrawal failed, in a transaction of its own. See
// MarkFailedTx.
func (s *Store) MarkFailed(ctx context.Context, id, reason string) (w *Withdrawal, err error) {
	err = s.inTx(ctx, fmt.Sprintf("marking %q failed", id), func(tx *sqlx.Tx) error {
		w, err = s.MarkFailedTx(ctx, tx, id, reason)
		return err
	})
	return w, err
}

// MarkFailedTx moves a requested or submitted withdrawal to failed, for
// instance when its receiver has no transfer pre-approval, in one statement
// inside the caller's transaction: it releases the holding reservations and
// calls the Refunder. Marking a failed withdrawal failed again changes
// nothing and is not an error (so this write is safe to redo after an
// Integration DB restore); any other status, pending_acceptance included
// (its transfer instruction is live on the ledger and only the ledger's
// outcome ends it), is a *TransitionError. An unknown id is ErrNotFound. On
// a database or Refunder error, roll tx back. A failed withdrawal is
// returned as one failed now is: the Refunder runs only when it moves, so
// credit the user through it. A credit of the caller's own in tx, retried
// with tx after an unknown outcome of its commit (a connection lost at
// COMMIT), would be made twice, unless keyed by the withdrawal id.
//
// Only mark failed a withdrawal whose transfer cannot commit any more: the
// Automation does so when the participant refused the submission. A
// withdrawal whose command may still commit must be left to the ledger
// (its trecTgt expires it): marking it failed refunds the user while the
// transfer can still pay out, which the Reconciler then reports as an
// anomaly. So one marked submitted is refused here (below) even where the
// participant reported a definite failure after MarkSubmitted: it expires,
// refunded, at its trecTgt. A requested or submitted withdrawal the
// Automation has handed to the Submitter (Withdrawal.SubmitAttemptedAt: a
// Submit running now, one whose result was lost with a crash, or one the
// participant accepted), and
// a withdrawal marked submitted (Withdrawal.SubmittedAt: MarkSubmitted says
// the participant accepted its command), is refused with
// ErrSubmitAttempted: its transfer may be on the ledger, and only the
// ledger or expiry may end it. (Support cancelling a withdrawal it
// saw requested cannot tell whether a round submitted it meanwhile.)
//
// While a RestoreProcedure restores the database (from before its step 1
// closes the gate until step 2 has closed the restored one and recorded
// the restored requests as attempted: see RestoreProcedure.Restore), it
// refuses every withdrawal with ErrWithdrawalsDisabled, as Create does,
// before it reads any table (the schema's version included): a
// request the backup holds requested may have been handed to the
// Submitter after the backup, its attempt lost with the restore. Until the
// procedure returns (Gate.RestoreWaiting) it moves nothing: a withdrawal
// failed already is returned, and one requested or submitted with no
// attempt recorded (given back so by a restore again) is refused with
// ErrWithdrawalsDisabled until the procedure records it (it does so too
// when it fails, with the gate closed again: see RestoreProcedure.Run).
// It takes the
// procedure's locks in share mode until tx ends, as Create does: keep tx
// short.
//
// Like CreateTx, it refuses a schema not at this build's version
// (schema.ErrUnknownVersion, schema.ErrNotMigrated).
func (s *Store) MarkFailedTx(ctx context.Context, tx *sqlx.Tx, id, reason string) (*Withdrawal, error) {
	// A restore under way: the tables may be pg_restore's (the migration
	// table among them: tried before the schema's version is read, see
	// restoreLocks), and the requests it restores requested have no
	// attempt recorded until step 2 records them, though they may have
	// been handed to the Submitter after the backup. The procedure waiting
	// for tSafe: its database may have been restored again, with the same
	// requests not recorded yet.
	restoring, waiting, err := s.restoreLocks(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: marking %q failed: %w", id, err)
	}
	if restoring {
		return nil, fmt.Errorf("%w (%s): withdrawal %q not marked failed", ErrWithdrawalsDisabled, Gate{Restoring: true}.why(), id)
	}
	if err := s.checkSchema(ctx, tx, fmt.Sprintf("marking %q failed", id)); err != nil {
		return nil, err
	}
	if waiting {
		return s.markFailedWaiting(ctx, tx, id)
	}
	return s.markFailed(ctx, tx, id, reason)
}

// markFailedWaiting is MarkFailedTx while a RestoreProcedure waits for
// tSafe (Gate.RestoreWaiting): it moves nothing. It answers as markFailed
// for a withdrawal failed already, or refused (ErrSubmitAttempted, or not
// requested nor submitted); one requested or submitted with no attempt
// recorded is one a restore again has given back as the backup had it
// (step 2 recorded the others, and nothing creates or submits meanwhile):
// it may have been handed to the Submitter after the backup, and is
// refused with ErrWithdrawalsDisabled until the procedure has recorded it.
func (s *Store) markFailedWaiting(ctx context.Context, tx *sqlx.Tx, id string) (*Withdrawal, error) {
	cur, err := s.get(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if (cur.Status == StatusRequested || cur.Status == StatusSubmitted) && cur.SubmitAttemptedAt == nil && cur.SubmittedAt == nil {
		return nil, fmt.Errorf("%w (the Integration DB restore procedure has not opened the gate: the database may have been restored again, "+
			"and the withdrawal handed to the Submitter after its backup): withdrawal %q not marked failed", ErrWithdrawalsDisabled, id)
	}
	return refuseFailed(cur)
}

// markFailed is MarkFailedTx in a transaction that checked the schema's
// version (the Automation's submission).
func (s *Store) markFailed(ctx context.Context, tx *sqlx.Tx, id, reason string) (*Withdrawal, error) {
	// Not from pending_acceptance: its transfer instruction is live on the
	// ledger and can still be accepted; only the ledger's outcome ends it.
	// Nor once the Automation attempted a submission, requested or
	// submitted: the attempt is committed before Submit runs, so a Submit
	// that began is seen here (or waits for this row, and then finds it
	// failed), and one that returned left the withdrawal submitted with its
	// transfer on its way. Nor once it was marked submitted (submitted_at)
	// with no attempt recorded: by the exchange's own submission loop
	// (MarkSubmitted), or before migration 008 recorded attempts; the
	// participant accepted its command, which may still commit.
	w, err := s.moveFrom(ctx, tx, id, StatusFailed, beforeLedger, `submit_attempted_at IS NULL AND submitted_at IS NULL`,
		`failure_reason = $3`, reason)
	if err != nil || w != nil {
		return w, err
	}
	cur, err := s.get(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	return refuseFailed(cur)
}

// refuseFailed answers markFailed for cur, the withdrawal it did not
// move: cur itself if it is failed already, else why it was refused.
func refuseFailed(cur *Withdrawal) (*Withdrawal, error) {
	id := cur.ID
	switch {
	case cur.Status == StatusFailed:
		return cur, nil
	case (cur.Status == StatusRequested || cur.Status == StatusSubmitted) && cur.SubmitAttemptedAt != nil:
		return nil, fmt.Errorf("%w: withdrawal %q, handed to the Submitter at %s: not marked failed (it expires at its trecTgt %s if no transfer shows up)",
			ErrSubmitAttempted, id, cur.SubmitAttemptedAt.Format(time.RFC3339Nano), cur.TrecTgt.Format(time.RFC3339Nano))
	case (cur.Status == StatusRequested || cur.Status == StatusSubmitted) && cur.SubmittedAt != nil:
		return nil, fmt.Errorf("%w: withdrawal %q, marked submitted at %s: not marked failed (it expires at its trecTgt %s if no transfer shows up)",
			ErrSubmitAttempted, id, cur.SubmittedAt.Format(time.RFC3339Nano), cur.TrecTgt.Format(time.RFC3339Nano))
	}
	return nil, &TransitionError{ID: id, From: cur.Status, To: StatusFailed}
}

// Outcome is what the ledger shows about a withdrawal: one history entry
// of a transfer the treasury sent (see tokenstd.Entry), with the
// withdrawal status it leads to.
type Outcome struct {
	// ID is the withdrawal id: the transfer's reason.
	ID string
	// Status is pending_acceptance (an offer), completed, rejected,
	// withdrawn, expired or failed.
	Status Status
	// Kind is the history entry's kind.
	Kind tokenstd.Kind
	// UpdateID, Offset, RecordTime, SynchronizerID and NodeID say where on
	// the ledger.
	UpdateID       string
	Offset         int64
	RecordTime     time.Time
	SynchronizerID string
	NodeID         int32
	// Instrument, Receiver, Transferred and Fee describe the transfer, as
	// this transaction's history entry does. Transferred is the transfer's
	// amount as the ledger states it, whatever the status: for an offer
	// (pending_acceptance) the amount offered, and for an instruction
	// ended without paying out (rejected, withdrawn, expired, failed) the
	// amount it was for, though the withdrawal's Transferred stays zero in
	// both cases (see Withdrawal.Transferred). Fee is what this one
	// transaction cost the treasury beyond what it moved: for an offer,
	// what locking the funds burned (zero with a registry that burns only
	// on acceptance, as ledgertest's OfferOp does; Amulet burns the lock's
	// fee here), not what its acceptance will burn, which is not known
	// yet; for the acceptance (completed), what the acceptance burned; for
	// an instruction ended without paying out, usually zero. The store
	// adds the Fee of each step to the withdrawal's, so that once it is
	// completed its Transferred + Fee is what the transfer cost in all.
	Instrument  tokenstd.Instrument
	Receiver    string
	Transferred decimal.Decimal
	Fee         decimal.Decimal
	// InstructionCID is the transfer instruction of a multi-step transfer.
	InstructionCID string
	// Replaces is, for an offer (pending_acceptance), the instruction it
	// replaces: the registry advanced the transfer (a choice returning
	// TransferInstructionResult_Pending with a successor instruction, or a
	// registry's own choice creating one; see tokenstd). A withdrawal
	// pending on Replaces stays pending, on InstructionCID.
	Replaces string
	// Meta is the operation's merged metadata: extra keys the exchange put
	// on the transfer are here.
	Meta tokenstd.Metadata
}

// outcomeStatus maps history entry kinds of treasury transfers to the
// withdrawal status they lead to.
var outcomeStatus = map[tokenstd.Kind]Status{
	tokenstd.KindWithdrawal: StatusCompleted,
	tokenstd.KindOfferOut:   StatusPendingAcceptance,
	tokenstd.KindRejected:   StatusRejected,
	tokenstd.KindWithdrawn:  StatusWithdrawn,
	tokenstd.KindExpired:    StatusExpired,
	tokenstd.KindFailed:     StatusFailed,
}

// OutcomeKinds returns the history entry kinds that move withdrawals.
func OutcomeKinds() []tokenstd.Kind { return slices.Sorted(maps.Keys(outcomeStatus)) }

// endKindsSQL lists, as SQL literals, the kinds of the history entries
// that end a withdrawal's transfer offer without paying out.
var endKindsSQL = func() string {
	var l []string
	for _, k := range OutcomeKinds() {
		if k != tokenstd.KindWithdrawal && k != tokenstd.KindOfferOut {
			l = append(l, pq.QuoteLiteral(string(k)))
		}
	}
	return strings.Join(l, ", ")
}()

// transferred is what o moved to the receiver: nothing for an offer (the
// funds are locked, still the treasury's) nor for an outcome that ends the
// withdrawal without paying out (the funds stayed, or came back).
func (o *Outcome) transferred() decimal.Decimal {
	if rules[o.Status].refund || o.Status == StatusPendingAcceptance {
		return decimal.Zero
	}
	return o.Transferred
}

func (o *Outcome) failureReason() string {
	if o.Status != StatusFailed {
		return ""
	}
	return fmt.Sprintf("the ledger shows the transfer failed (%s, update %s)", o.Kind, o.UpdateID)
}

// ApplyOutcome applies what the ledger shows, in a transaction of its own.
// See ApplyOutcomeTx.
func (s *Store) ApplyOutcome(ctx context.Context, o Outcome) (w *Withdrawal, err error) {
	err = s.inTx(ctx, fmt.Sprintf("applying update %s at offset %d to withdrawal %q", o.UpdateID, o.Offset, o.ID), func(tx *sqlx.Tx) error {
		w, err = s.ApplyOutcomeTx(ctx, tx, o)
		return err
	})
	return w, err
}

// ApplyOutcomeTx moves the withdrawal o.ID to o.Status in one statement
// inside the caller's transaction, recording the transaction (update id,
// offset, record time), the instruction, the transferred amount and the
// fee (for a withdrawal pending acceptance, added to the fee its offer
// and the steps that advanced its instruction burned); it releases the holding reservations and, for rejected, withdrawn,
// expired and failed, calls the Refunder. A completed transfer of a
// recovered withdrawal makes it recovered.
//
// Applying an outcome again (the same update id and node), or one older
// than the transaction that last moved the withdrawal on the same
// synchronizer, changes nothing and is not an error: replaying ingestion is
// harmless. Otherwise a status the
// withdrawal cannot move from is a *TransitionError, as is an outcome of
// another transfer for a withdrawal pending acceptance of its instruction
// (it moves only by that instruction's outcome, or its successor's), and an
// unknown id ErrNotFound. The Reconciler does this for every withdrawal entry of a
// batch. Like CreateTx, it refuses a schema not at this build's
// version (schema.ErrUnknownVersion, schema.ErrNotMigrated).
func (s *Store) ApplyOutcomeTx(ctx context.Context, tx *sqlx.Tx, o Outcome) (*Withdrawal, error) {
	if err := s.checkSchema(ctx, tx, fmt.Sprintf("outcome of %q", o.ID)); err != nil {
		return nil, err
	}
	w, _, err := s.applyOutcome(ctx, tx, o)
	return w, err
}

// applyOutcome is ApplyOutcomeTx that also says whether it changed the
// withdrawal.
func (s *Store) applyOutcome(ctx context.Context, tx *sqlx.Tx, o Outcome) (*Withdrawal, bool, error) {
	if _, ok := rules[o.Status]; !ok || o.Status == StatusSubmitted {
		return nil, false, fmt.Errorf("withdrawal: outcome of %q: %q is not a ledger outcome", o.ID, o.Status)
	}
	if o.Status == StatusPendingAcceptance && o.Replaces != "" {
		// The registry advanced the transfer: the withdrawal pending on the
		// replaced instruction follows its successor, still pending, and
		// what that step burned adds to its fee.
		w, err := selectOne(ctx, tx, `UPDATE `+s.withdrawals+` SET updated_at = now(), instruction_cid = $3,
				update_id = $4, ledger_offset = $5, record_time = $6, ledger_node_id = $7, ledger_synchronizer_id = $8,
				fee = fee + $10
			WHERE id = $1 AND status = $2 AND instruction_cid = $9
			RETURNING `+columns, o.ID, string(StatusPendingAcceptance), o.InstructionCID, o.UpdateID, o.Offset,
			normTime(o.RecordTime), o.NodeID, o.SynchronizerID, o.Replaces, o.Fee.String())
		if err != nil {
			return nil, false, fmt.Errorf("withdrawal: moving %q to its instruction %s (replacing %s): %w", o.ID, o.InstructionCID, o.Replaces, err)
		}
		if w != nil {
			return w, true, nil
		}
	}
	// A withdrawal pending acceptance moves only by an outcome of its own
	// instruction: another transfer carrying its id is a second execution.
	// Its fee adds to what the offer burned.
	w, err := s.moveFrom(ctx, tx, o.ID, o.Status, rules[o.Status].from, `status <> '`+string(StatusPendingAcceptance)+`'
		OR instruction_cid = '' OR instruction_cid = $3`, `instruction_cid = CASE WHEN $3 <> '' THEN $3 ELSE instruction_cid END,
		update_id = $4, ledger_offset = $5, record_time = $6, transferred = $7,
		fee = CASE WHEN status = '`+string(StatusPendingAcceptance)+`' THEN fee + $8 ELSE $8 END,
		failure_reason = CASE WHEN $9 <> '' THEN $9 ELSE failure_reason END,
		ledger_node_id = $10, ledger_synchronizer_id = $11`,
		o.InstructionCID, o.UpdateID, o.Offset, normTime(o.RecordTime), o.transferred().String(), o.Fee.String(), o.failureReason(),
		o.NodeID, o.SynchronizerID)
	if err != nil || w != nil {
		return w, w != nil, err
	}
	cur, err := s.get(ctx, tx, o.ID)
	if err != nil {
		return nil, false, err
	}
	if applied(cur, o) {
		return cur, false, nil
	}
	te := &TransitionError{ID: o.ID, From: cur.Status, To: o.Status, UpdateID: o.UpdateID, CurrentUpdateID: cur.UpdateID}
	if !ownInstruction(cur, o) {
		te.Instruction, te.CurrentInstruction = o.InstructionCID, cur.InstructionCID
	}
	return nil, false, te
}

// ownInstruction reports whether o may move w as far as w's transfer
// instruction goes: a withdrawal pending acceptance of its instruction
// moves only by that instruction's outcome (or its successor's, see
// Outcome.Replaces), not by another transfer carrying its id.
func ownInstruction(w *Withdrawal, o Outcome) bool {
	return w.Status != StatusPendingAcceptance || w.InstructionCID == "" || w.InstructionCID == o.InstructionCID
}

// applied reports whether o is already reflected in w: w was moved by o
// (the same node of the same transaction), or by a later transaction of
// the same synchronizer. Another node of the same transaction is another
// transfer; record times of different synchronizers are not comparable.
// What w does not know (moved before schema version 7) counts as a match,
// as it did then.
func applied(w *Withdrawal, o Outcome) bool {
	if o.UpdateID != "" && w.UpdateID == o.UpdateID {
		return w.NodeID < 0 || w.NodeID == o.NodeID
	}
	if w.RecordTime.IsZero() {
		return false
	}
	if w.LedgerSynchronizerID != "" && o.SynchronizerID != "" && w.LedgerSynchronizerID != o.SynchronizerID {
		return false
	}
	return normTime(o.RecordTime).Before(w.RecordTime)
}

// ExpireDue expires the withdrawals whose trecTgt has passed, in a
// transaction of its own. See ExpireDueTx.
func (s *Store) ExpireDue(ctx context.Context, recordTimes map[string]time.Time) (ws []*Withdrawal, err error) {
	err = s.inTx(ctx, "", func(tx *sqlx.Tx) error {
		ws, err = s.ExpireDueTx(ctx, tx, recordTimes)
		return err
	})
	return ws, err
}

// ExpireDueTx moves to expired, in one statement inside the caller's
// transaction, every requested or submitted withdrawal whose trecTgt is
// before the ingested record time: that of its synchronizer if it names
// one, else the store's clock (Config.Synchronizer or Synchronizers) computed from
// recordTimes, the record time reached per synchronizer (ingest.Batch's
// RecordTimes). Their reservations are released and the Refunder is called
// for each. It returns them, by trecTgt.
//
// A transfer committed before trecTgt has a record time below it, so it was
// ingested no later than the batch whose record time passes trecTgt; the
// Reconciler applies a batch's transfers before its expiry, so a withdrawal
// whose transfer is on the ledger is never expired. Like the Reconciler, it
// expires nothing while a transaction set aside for review is unresolved
// (review_transaction.resolved_at NULL): it may be a withdrawal's transfer
// that nobody has seen. Nor does it expire a withdrawal whose transfer is
// in token_history, paid out or offered and not ended (more offers than
// rejections, withdrawals, expiries and failures): a History handler
// that ran without the Reconciler ingested it, and the Reconciler never
// applied it. Such a withdrawal stays requested or submitted, its user not
// credited back, until an operator looks. Like CreateTx, it
// refuses a schema not at this build's version (schema.ErrUnknownVersion,
// schema.ErrNotMigrated).
func (s *Store) ExpireDueTx(ctx context.Context, tx *sqlx.Tx, recordTimes map[string]time.Time) ([]*Withdrawal, error) {
	if err := s.checkSchema(ctx, tx, "expiring withdrawals past their trecTgt"); err != nil {
		return nil, err
	}
	return s.expireDue(ctx, tx, recordTimes, true)
}

// expireDue is ExpireDueTx; with unlessHeld it expires nothing while a
// transaction set aside for review is unresolved (in the same statement).
func (s *Store) expireDue(ctx context.Context, tx *sqlx.Tx, recordTimes map[string]time.Time, unlessHeld bool) ([]*Withdrawal, error) {
	if len(recordTimes) == 0 {
		return nil, nil
	}
	c := s.clockArgs(recordTimes)
	ws, err := selectWithdrawals(ctx, tx, `WITH `+clockCTE+`, `+s.expiring(unlessHeld, "")+`
		SELECT `+columns+` FROM expired ORDER BY trec_tgt, id`,
		c.syncs, c.times, c.def, c.latest, string(StatusExpired), statusNames(beforeLedger))
	if err != nil {
		return nil, fmt.Errorf("withdrawal: expiring withdrawals past their trecTgt: %w", err)
	}
	for _, w := range ws {
		if err := s.refund(ctx, tx, w); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

// expiring is the expiry of expireDue as two CTEs to follow clockCTE:
// "expired", the withdrawals it moves, and the release of their
// reservations. $5 is the expired status, $6 the statuses before the
// ledger; and is a further condition on the row w, empty or starting with
// AND. With unlessHeld it expires nothing while a transaction set aside for
// review is unresolved. Nor does it expire a withdrawal that token_history
// shows paid out, or offered with more offers than ends: its transfer was
// seen, by a History handler that ran without the Reconciler.
func (s *Store) expiring(unlessHeld bool, and string) string {
	held := ""
	if unlessHeld {
		held = ` AND NOT ` + s.reviewHeld()
	}
	return `expired AS (
			UPDATE ` + s.withdrawals + ` AS w SET status = $5, updated_at = now(), closed_at = now()
			WHERE w.status = ANY($6) AND w.trec_tgt < $4 AND w.trec_tgt < ` + clockOfRow + held + and + `
				AND NOT EXISTS (SELECT 1 FROM ` + s.history + ` h WHERE h.withdrawal_id = w.id AND h.withdrawal_id <> ''
					HAVING count(*) FILTER (WHERE h.kind = ` + pq.QuoteLiteral(string(tokenstd.KindWithdrawal)) + `) > 0
						OR count(*) FILTER (WHERE h.kind = ` + pq.QuoteLiteral(string(tokenstd.KindOfferOut)) + `)
							> count(*) FILTER (WHERE h.kind IN (` + endKindsSQL + `)))
			RETURNING w.*
		), released AS (
			DELETE FROM ` + s.reservations + ` AS r USING expired WHERE r.withdrawal_id = expired.id
		)`
}

// clockCTE and clockOfRow compare trecTgt with the ingested record time in
// SQL, as Store.clock does: $1 and $2 are the synchronizers and their
// record times, $3 the store's clock (NULL if unknown), for a row w.
const (
	clockCTE   = `clock(sync, t) AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]))`
	clockOfRow = `COALESCE(CASE WHEN w.synchronizer_id = '' THEN $3::timestamptz
		ELSE (SELECT c.t FROM clock c WHERE c.sync = w.synchronizer_id) END, '-infinity')`
)

// clockArgs are the arguments $1 to $4 of clockCTE and clockOfRow; latest
// ($4) is the latest record time, an index-friendly upper bound.
type clockArgs struct {
	syncs, times pq.StringArray
	def, latest  any
}

// unknownClockWarningInterval is how often, at most, a Store warns that a
// synchronizer of Config.Synchronizers keeps its clock unknown.
const unknownClockWarningInterval = time.Minute

// warnUnknownClock warns, at most once per unknownClockWarningInterval,
// when record times were ingested but the store's clock is unknown because
// Config.Synchronizer, or one of Config.Synchronizers, has none yet: withdrawals naming
// no synchronizer do not expire until it does (a synchronizer the treasury
// has not used yet, or a wrong id in the list). Expiry, the Reconciler and
// the Automation call it; the gate's wait reports the unknown clock as a
// zero ingested record time (and IngestedTime calls it too).
func (s *Store) warnUnknownClock(recordTimes map[string]time.Time) {
	clockSyncs := s.cfg.Synchronizers
	if s.cfg.Synchronizer != "" {
		clockSyncs = []string{s.cfg.Synchronizer}
	}
	if len(clockSyncs) == 0 || len(recordTimes) == 0 {
		return
	}
	var missing []string
	for _, sync := range clockSyncs {
		if recordTimes[sync].IsZero() {
			missing = append(missing, sync)
		}
	}
	if len(missing) == 0 {
		return
	}
	now := time.Now().UnixNano()
	last := s.clockWarned.Load()
	if now-last < int64(unknownClockWarningInterval) || !s.clockWarned.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("withdrawal: withdrawals naming no synchronizer do not expire, and the Integration DB restore gate cannot open: Config.Synchronizer(s) names synchronizers with no record time ingested yet (not used by the treasury so far, or a wrong id)",
		"missing", missing, "ingested", slices.Sorted(maps.Keys(recordTimes)))
}

func (s *Store) clockArgs(recordTimes map[string]time.Time) clockArgs {
	var c clockArgs
	var latest time.Time
	for sync, t := range recordTimes {
		c.syncs = append(c.syncs, sync)
		c.times = append(c.times, normTime(t).Format(time.RFC3339Nano))
		if t.After(latest) {
			latest = t
		}
	}
	if d := s.clock(recordTimes, ""); !d.IsZero() {
		c.def = normTime(d)
	} else {
		s.warnUnknownClock(recordTimes)
	}
	if !latest.IsZero() {
		c.latest = normTime(latest)
	}
	return c
}
