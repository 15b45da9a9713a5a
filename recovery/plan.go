package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/cantonx/txhistory/internal/pgsetting"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
	"google.golang.org/grpc/codes"
)

// Participant is what the runbook asks of the restored participant: the
// admin API look-up, the ledger end and look-ups by update id.
// *ledger.Client implements it (with an admin endpoint configured).
//
// Plan uses three more methods of *ledger.Client when the Participant has them:
// PrunedOffsets (a pruned last ingested transaction, Rewind.PrunedUpTo),
// SynchronizerTimes (the synchronizers the Integration DB never saw,
// Rewind.UnknownSynchronizers) and Updates (the read that places
// offRecovery for them, Rewind.UnknownScan). A Participant of your own
// that wraps a *ledger.Client should have them too, forwarding them: without
// SynchronizerTimes Plan does not look for such synchronizers, and nothing
// says so; without Updates it puts offRecovery at 0 for them, a replay of
// the whole ledger.
type Participant interface {
	HighestOffsetByTimestamp(ctx context.Context, synchronizerID string, t time.Time, force bool) (int64, error)
	LedgerEnd(ctx context.Context) (int64, error)
	UpdateByID(ctx context.Context, updateID string, f ledger.Filter) (*ledger.Transaction, error)
}

var _ Participant = (*ledger.Client)(nil)

// prunedOffsetsReader is the optional part of a Participant that tells a
// pruned last ingested update from one not recovered yet; *ledger.Client
// implements it.
type prunedOffsetsReader interface {
	PrunedOffsets(ctx context.Context) (ledger.PrunedOffsets, error)
}

// synchronizerLister is the optional part of a Participant that lists the
// synchronizers it reports (in an OffsetCheckpoint at its ledger end);
// *ledger.Client implements it. Without it Plan cannot tell a synchronizer
// the Integration DB never saw (Rewind.UnknownSynchronizers).
type synchronizerLister interface {
	SynchronizerTimes(ctx context.Context, f ledger.Filter) ([]ledger.SynchronizerTime, error)
}

var _ synchronizerLister = (*ledger.Client)(nil)

// updatesReader is the optional part of a Participant that streams
// updates; *ledger.Client implements it. With it Plan reads the treasury's
// transactions up to offRecovery for synchronizers the Integration DB
// never saw, and lowers offRecovery only below the first on one of them,
// rather than replay the whole ledger.
type updatesReader interface {
	Updates(ctx context.Context, r ledger.UpdatesRequest) (*ledger.UpdateStream, error)
}

var _ updatesReader = (*ledger.Client)(nil)

// Scan is what Plan read of the treasury's transactions, for synchronizers
// the Integration DB never saw: those after From up to To (offRecovery
// then). From is the participant's pruning offset (0 if the Participant
// does not tell it), at most To: equal to To, nothing was read. First is
// the offset of the first on one of those synchronizers, just below which
// offRecovery was put; 0 if there is none, and offRecovery was kept.
type Scan struct {
	From, To, First int64
}

// Lookup is one answer of the admin API that Plan relied on.
type Lookup struct {
	SynchronizerID string
	Time           time.Time
	Force          bool
	Offset         int64
	// Err is the participant's error, if the answer was one.
	Err error
}

func (l Lookup) String() string {
	s := fmt.Sprintf("find_highest_offset_by_timestamp(%s, %s, force=%t)", l.SynchronizerID, l.Time.Format(time.RFC3339Nano), l.Force)
	if l.Err != nil {
		return s + " failed: " + l.Err.Error()
	}
	return fmt.Sprintf("%s = %d", s, l.Offset)
}

// Rewind is the outcome of Plan: where the checkpoint stands, what the
// restored participant says, and the offset ingestion must resume from.
// Apply writes it. It is a plain value: print it, log it, ask an operator.
type Rewind struct {
	Schema string
	Mode   Mode
	// AdminAPI is the behaviour Plan detected (or was told); AdminAuto when
	// the participant answered without an error that would tell.
	AdminAPI AdminAPI

	// From the Integration DB (runbook step 2).

	// From is the checkpoint offset now.
	From int64
	// LastUpdateID, RecoveryTime (tRecovery) and SynchronizerID describe the
	// last ingested transaction.
	LastUpdateID   string
	RecoveryTime   time.Time
	SynchronizerID string
	// IngestedOffset is the offset at which the Integration DB last saw
	// LastUpdateID: the checkpoint's, or after a rewind the dedup table's;
	// 0 if neither holds it (the dedup table's retention, in ModeUnique).
	IngestedOffset int64
	// OtherSynchronizers are the record times the Integration DB has
	// reached on synchronizers other than SynchronizerID (from transactions
	// and OffsetCheckpoints), sorted by id. Plan looks them up too, to keep
	// offRecovery below their transactions after those times, but does
	// not rewind their record times: see the package documentation,
	// "Limits".
	OtherSynchronizers []ledger.SynchronizerTime

	// From the participant (runbook step 5).

	// UnknownSynchronizers are the synchronizers the participant reports
	// (the first OffsetCheckpoint on a stream at its ledger end) that the
	// Integration DB has no record time of, sorted by id. The restored
	// participant may number their transactions, none of them ingested,
	// below any look-up's answer, even with the last ingested transaction
	// back at its ingested offset (Restored false), and none can be looked
	// up as of a record time ingested there: Plan reads the treasury's
	// transactions up to To and puts To just below the first on one of
	// them (UnknownScan), or, with a Participant that does not stream
	// updates, at 0, a replay of the whole ledger that dedup drops the
	// ingested transactions of (see the package's Limits).
	UnknownSynchronizers []ledger.SynchronizerTime
	// UnknownScan, when not nil, is the read of the treasury's
	// transactions that placed offRecovery for UnknownSynchronizers: below
	// the first on one of them, if any lies at or below the other
	// answers, and not at 0. Nil with UnknownSynchronizers: the participant
	// does not stream updates (not a *ledger.Client), and To was put at 0
	// (raised to PrunedUpTo if the participant is pruned above it).
	UnknownScan *Scan

	// ParticipantOffset is the offset at which the participant now has
	// LastUpdateID. It differs from IngestedOffset after a restore.
	ParticipantOffset int64
	// LookupTime is the time offRecovery was looked up as of: tRecovery in
	// ModeUnique, tRecovery − 1µs in ModeNonUnique.
	LookupTime time.Time
	// To is offRecovery: ingestion resumes after it.
	To int64
	// FirstAt, if not 0, is where the participant now has the first of the
	// transactions ingested at tRecovery on SynchronizerID, in ModeNonUnique
	// when the look-up as of LookupTime found nothing and other
	// synchronizers are known: To was put just below it.
	FirstAt int64
	// LoweredBy, when its SynchronizerID is set, is the look-up of another
	// synchronizer (as of the record time ingested there − 1µs) that put
	// To below the answer as of LookupTime (see the package's Limits).
	LoweredBy Lookup
	// PrunedUpTo, if not 0, is the participant's pruning offset, which
	// was above the −1µs look-up's answer (ModeNonUnique, or another
	// synchronizer's): To was raised to it, as the participant cannot
	// stream from below it.
	PrunedUpTo int64
	// LedgerEnd is the participant's ledger end when Plan finished.
	LedgerEnd int64
	// Waited is how long Plan waited for the participant to process tRecovery.
	Waited time.Duration
	// Lookups are the admin API answers offRecovery rests on.
	Lookups []Lookup
	// Note is Options.Note.
	Note string
}

// Restored reports whether the participant has the last ingested transaction
// at another offset than the one it was ingested at: the evidence that it
// was restored from a backup. False also when IngestedOffset is unknown,
// and after a restore from a backup taken after the last ingested
// transaction: only the offsets after it change then, so false does not
// mean that the rewind is not needed.
func (r *Rewind) Restored() bool {
	return r.IngestedOffset != 0 && r.ParticipantOffset != r.IngestedOffset
}

// String describes the rewind in a few lines for an operator.
func (r *Rewind) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "last ingested transaction: update %s, tRecovery %s, synchronizer %s\n",
		r.LastUpdateID, r.RecoveryTime.Format(time.RFC3339Nano), r.SynchronizerID)
	for _, o := range r.OtherSynchronizers {
		fmt.Fprintf(&b, "not rewound: synchronizer %s, ingested to record time %s, looked up only to keep offRecovery below what came after it (see the recovery package's Limits)\n",
			o.SynchronizerID, o.RecordTime.UTC().Format(time.RFC3339Nano))
	}
	ingested := "unknown (no longer in the dedup table)"
	if r.IngestedOffset != 0 {
		ingested = fmt.Sprint(r.IngestedOffset)
	}
	fmt.Fprintf(&b, "ingested at offset %s; the participant now has it at offset %d\n", ingested, r.ParticipantOffset)
	for _, l := range r.Lookups {
		fmt.Fprintf(&b, "%s: %s\n", r.AdminAPI.label(), l)
	}
	if f := r.belowFirst(); f != "" {
		fmt.Fprintf(&b, "%s\n", f)
	}
	if l := r.lowered(); l != "" {
		fmt.Fprintf(&b, "%s\n", l)
	}
	if u := r.unknown(); u != "" {
		fmt.Fprintf(&b, "%s\n", u)
	}
	if r.PrunedUpTo != 0 {
		fmt.Fprintf(&b, "the participant is pruned up to offset %d, above %s: offRecovery raised to it\n", r.PrunedUpTo, r.raisedFrom())
	}
	fmt.Fprintf(&b, "mode %s: offRecovery %d (as of %s); checkpoint offset %d -> %d; ledger end %d",
		r.Mode, r.To, r.asOf(), r.From, r.To, r.LedgerEnd)
	return b.String()
}

// belowFirst says, if the look-up as of LookupTime found nothing and
// offRecovery was put below the first transaction ingested at tRecovery,
// so; else "".
func (r *Rewind) belowFirst() string {
	if r.FirstAt == 0 {
		return ""
	}
	return fmt.Sprintf("nothing of synchronizer %s lies at or before %s: offRecovery %d, just below offset %d, where the participant now has the first transaction ingested at tRecovery on synchronizer %s",
		r.SynchronizerID, r.LookupTime.Format(time.RFC3339Nano), r.FirstAt-1, r.FirstAt, r.SynchronizerID)
}

// lowered says which look-up of another synchronizer lowered offRecovery,
// or "" if none did.
func (r *Rewind) lowered() string {
	l := r.LoweredBy
	if l.SynchronizerID == "" {
		return ""
	}
	if l.Err != nil {
		return fmt.Sprintf("offRecovery lowered to %d by the look-up of synchronizer %s as of %s (its ingested record time − 1µs), which found nothing: where the participant now has the last transaction ingested at that record time there (if it shows none, just below the treasury's first transaction there up to offRecovery, read from the participant's pruning offset; 0 without such a read), below the answer as of %s",
			l.Offset, l.SynchronizerID, l.Time.Format(time.RFC3339Nano), r.LookupTime.Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("offRecovery lowered to %d by the look-up of synchronizer %s as of %s (its ingested record time − 1µs), below the answer as of %s",
		l.Offset, l.SynchronizerID, l.Time.Format(time.RFC3339Nano), r.LookupTime.Format(time.RFC3339Nano))
}

// unknownLowers reports whether UnknownSynchronizers lowered offRecovery:
// to 0 without a scan, or below the first transaction the scan found.
func (r *Rewind) unknownLowers() bool {
	return len(r.UnknownSynchronizers) > 0 && (r.UnknownScan == nil || r.UnknownScan.First != 0)
}

// unknown says which synchronizers the Integration DB never saw, and what
// Plan made of them, or "" if there are none.
func (r *Rewind) unknown() string {
	if len(r.UnknownSynchronizers) == 0 {
		return ""
	}
	ids := strings.Join(unknownIDs(r), ", ")
	switch sc := r.UnknownScan; {
	case sc == nil:
		return fmt.Sprintf("offRecovery lowered to 0, a replay of the whole ledger, by synchronizers the participant reports and the Integration DB never saw (%s): the restored participant may number their transactions below any look-up's answer",
			ids)
	case sc.From >= sc.To:
		return fmt.Sprintf("the participant reports synchronizers the Integration DB never saw (%s), whose transactions lie above its pruning offset, which is at or above offRecovery %d: nothing to read, offRecovery kept",
			ids, sc.To)
	case sc.First != 0:
		return fmt.Sprintf("offRecovery lowered to %d, just below offset %d, where the participant has the treasury's first transaction on a synchronizer it reports and the Integration DB never saw (%s; read offsets %d to %d)",
			sc.First-1, sc.First, ids, sc.From+1, sc.To)
	default:
		return fmt.Sprintf("the participant reports synchronizers the Integration DB never saw (%s), and the treasury has no transaction on them at offsets %d to %d: offRecovery kept",
			ids, sc.From+1, sc.To)
	}
}

// raisedFrom names what the pruning offset (PrunedUpTo) raised
// offRecovery from: the look-up's answer, or where synchronizers the
// Integration DB never saw put it.
func (r *Rewind) raisedFrom() string {
	if !r.unknownLowers() {
		return "the look-up's answer"
	}
	if r.UnknownScan != nil {
		return fmt.Sprintf("%d, where the synchronizers the Integration DB never saw put offRecovery", r.UnknownScan.First-1)
	}
	return "0, where the synchronizers the Integration DB never saw put offRecovery"
}

// asOf is the look-up time offRecovery rests on: LookupTime's, or that of
// the other synchronizer's look-up that lowered it.
func (r *Rewind) asOf() string {
	if r.unknownLowers() {
		if r.UnknownScan != nil {
			return fmt.Sprintf("offset %d (the first transaction on a synchronizer the Integration DB never saw)", r.UnknownScan.First)
		}
		return "the start (synchronizers the Integration DB never saw)"
	}
	if l := r.LoweredBy; l.SynchronizerID != "" {
		return l.Time.Format(time.RFC3339Nano) + " on synchronizer " + l.SynchronizerID
	}
	return r.LookupTime.Format(time.RFC3339Nano)
}

// auditNote is what Apply writes into the audit row's note.
func (r *Rewind) auditNote() string {
	s := fmt.Sprintf("validator node restore runbook: last update %s ingested at offset %d, now at %d; offRecovery as of %s (admin API %s); ledger end %d",
		r.LastUpdateID, r.IngestedOffset, r.ParticipantOffset, r.asOf(), r.AdminAPI, r.LedgerEnd)
	if f := r.belowFirst(); f != "" {
		s += "; " + f
	}
	if l := r.lowered(); l != "" {
		s += "; " + l
	}
	if u := r.unknown(); u != "" {
		s += "; " + u
	}
	if r.PrunedUpTo != 0 {
		s += fmt.Sprintf("; the participant is pruned up to offset %d, above %s: offRecovery raised to it", r.PrunedUpTo, r.raisedFrom())
	}
	if ids := r.otherIDs(); len(ids) > 0 {
		s += "; not rewound: synchronizers " + strings.Join(ids, ", ")
	}
	if r.Note != "" {
		s += "; " + r.Note
	}
	return s
}

// otherIDs returns the ids of r.OtherSynchronizers.
func (r *Rewind) otherIDs() []string { return synchronizerIDs(r.OtherSynchronizers) }

// synchronizerIDs returns the ids of ts.
func synchronizerIDs(ts []ledger.SynchronizerTime) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.SynchronizerID)
	}
	return ids
}

// deadlineErr is err, a failure endedByDeadline reports, wrapping
// context.DeadlineExceeded when ctx has not said yet that it ended: the
// participant's DeadlineExceeded is ctx's deadline, sent with the call, and
// may arrive just before ctx's own timer fires.
func deadlineErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxerr.Wrap(ctx, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, context.DeadlineExceeded)
}

// endedByDeadline reports whether a failed read of the participant was
// ended by Options.Timeout or the caller's deadline: ctx's deadline
// passed, or the participant cut the stream at the deadline before ctx
// said it ended. A caller that cancelled ctx did not run out of time: its
// error says neither Options.Timeout nor a longer -timeout.
func endedByDeadline(ctx context.Context, err error) bool {
	var ae *ledger.APIError
	return err != nil && (errors.Is(ctx.Err(), context.DeadlineExceeded) || ctx.Err() == nil && errors.As(err, &ae) && ae.Code == codes.DeadlineExceeded)
}

// otherSynchronizers returns cp's record times of the synchronizers other
// than its last transaction's, sorted by id.
func otherSynchronizers(cp checkpoint.Checkpoint) []ledger.SynchronizerTime {
	var out []ledger.SynchronizerTime
	for id, t := range cp.RecordTimes {
		if id != cp.SynchronizerID {
			out = append(out, ledger.SynchronizerTime{SynchronizerID: id, RecordTime: t})
		}
	}
	slices.SortFunc(out, func(a, b ledger.SynchronizerTime) int { return strings.Compare(a.SynchronizerID, b.SynchronizerID) })
	return out
}

// restoreTimeout bounds Plan's setting back of a caller's transaction's
// idle_in_transaction_session_timeout, which runs even when ctx has ended.
const restoreTimeout = 10 * time.Second

// Plan carries out steps 2 and 5 of the validator node restore runbook
// against a restored participant, and returns the rewind that step 6
// (Apply) writes. It changes nothing. db may be a *sqlx.DB or a *sqlx.Tx;
// a *sqlx.Tx sits idle during the waits below, so Plan turns
// idle_in_transaction_session_timeout off for it until it returns the
// rewind, and then sets the transaction's value back, as it does when it
// fails on the participant's side or ctx ends during a wait (the
// transaction is then still usable: Plan may be run again in it). After a
// database error, roll it back.
// (statement_timeout and lock_timeout do not apply to an idle transaction.)
//
// Step 2: it reads tRecovery, the synchronizer id and the update id of the
// last ingested transaction from the checkpoint in db.
//
// Waiting: a participant restored from a backup first recovers from the
// synchronizer every transaction sequenced after the backup, under new
// offsets. Before it has processed tRecovery its admin API cannot tell
// offRecovery, and Canton 3.5's forced look-up even answers its current
// ledger end, which is far too low. So Plan first waits, at most
// Options.Timeout, polling every Options.PollInterval and reporting through
// Options.Progress and Options.Logger, until both
//
//   - the exact (not forced) look-up of tRecovery succeeds: on 3.5 and later
//     it fails with UNPROCESSED_REQUESTED_TIMESTAMP until the participant
//     has processed tRecovery (and with INVALID_ARGUMENT_PARTY_MANAGEMENT_ERROR
//     until it has processed anything of the synchronizer), on 3.4 with
//     INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR (which 3.4 uses for every
//     failure, so Plan keeps waiting on it); and
//   - the participant knows the last ingested update id (looked up with the
//     Options.Parties filter), which it does once it has recovered it.
//
// A participant that has processed tRecovery but pruned up to it (a node
// backup taken after the last ingested transaction, from a node that had
// pruned past it) cannot replay from there: Plan fails at once with an
// error that matches ledger.ErrPruned, rather than wait.
//
// The exact look-up is then asked once more, so that its answer is not
// older than the participant's offset of the last ingested update.
//
// Step 5: in ModeUnique offRecovery is the answer of the exact look-up of
// tRecovery: the highest offset with that record time. If the participant
// has the last ingested transaction below that offset, other transactions
// share tRecovery after it and the unique runbook would skip them: Plan
// fails with ErrRecordTimeNotUnique.
//
// In ModeNonUnique offRecovery is the highest offset at or before
// tRecovery − 1µs. On 3.5 that needs force, since usually no transaction
// has exactly that record time. The forced answer is trusted because the
// exact look-up has already shown that the participant processed tRecovery,
// so tRecovery − 1µs lies strictly before what it has processed: the only
// case in which a forced answer is the real highest offset. 3.4 ignores
// force and answers the same; if it fails now, no transaction lies at or
// before tRecovery − 1µs and offRecovery is 0, or, when the Integration DB
// has record times of other synchronizers, just below where the participant
// now has the first of the dedup table's transactions at tRecovery there
// (Rewind.FirstAt, which String, the narration and the audit row name;
// the treasury's first transactions on that synchronizer: a replay of the
// whole ledger would meet ids PruneBefore deleted within its rule). Either
// way the answer must be
// below the participant's offset of the last ingested transaction, or Plan
// fails with ErrUntrustedAnswer. If the participant is pruned above that
// answer (but below the last ingested transaction), offRecovery is its
// pruning offset: it cannot stream from below it, and what lies at or
// below it was ingested (pruning only at or below the checkpoint).
//
// The admin API behaviour (Options.AdminAPI) is told from the error ids by
// default; with Admin34 Plan never sends force.
//
// Last, with a Participant that lists its synchronizers (see Participant),
// Plan reads those the participant reports, waiting for its next
// OffsetCheckpoint (about a minute on a quiet ledger), and keeps
// offRecovery below the treasury's first transaction on any the
// Integration DB never saw (Rewind.UnknownSynchronizers, Rewind.UnknownScan,
// the package's Limits). The calls after the wait share one
// Options.Timeout: should it end them, Plan fails, having written nothing;
// run it again with a longer one.
func Plan(ctx context.Context, db sqlx.QueryerContext, p Participant, opts Options) (out *Rewind, err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	opts = opts.WithDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if db == nil || p == nil || nilcheck.Holds(db) || nilcheck.Holds(p) {
		return nil, errors.New("recovery: nil database or participant")
	}
	cps, err := checkpoint.NewStore(opts.Schema)
	if err != nil {
		return nil, err
	}
	dd, err := dedup.NewStore(opts.Schema)
	if err != nil {
		return nil, err
	}

	if tx, ok := db.(*sqlx.Tx); ok {
		// The caller's transaction sits idle while Plan waits for the
		// participant (up to Options.Timeout): an
		// idle_in_transaction_session_timeout of the role or database
		// would end its session, and the caller's ApplyTx would then fail
		// with no more than "driver: bad connection". Off for Plan's waits
		// only: set back once Plan returns the rewind, so that the caller's
		// transaction, open until its ApplyTx, is again under the DBA's
		// timeout or the caller's own.
		// Set back on an error too: a participant's error (ErrNotCaughtUp,
		// Options.Timeout ending the calls) or ctx ending while tx is idle
		// (tx has a context of its own) leaves tx usable, and the caller
		// may run Plan again in it, which would read "0" as tx's value.
		// Hence a context that has not ended, bounded on its own. After a
		// database error tx is aborted (or, ctx ending during a statement,
		// its connection closed) and the setting back fails as well; the
		// caller rolls tx back.
		// err and out are Plan's results, which the deferred function reads
		// and sets.
		var restore func(context.Context) error
		restore, err = pgsetting.Off(ctx, tx, "idle_in_transaction_session_timeout")
		if err != nil {
			return nil, fmt.Errorf("recovery: in the transaction, %w", err)
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
			serr := restore(rctx)
			cancel()
			if err == nil && serr != nil {
				out, err = nil, fmt.Errorf("recovery: in the transaction, %w", serr)
			}
		}()
	}
	// Step 2: tRecovery and the synchronizer id from the Integration DB.
	cp, found, err := cps.Get(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	if !found || cp.UpdateID == "" || cp.RecordTime.IsZero() || cp.SynchronizerID == "" {
		return nil, nothingIngested(opts.Schema, cp.Offset)
	}
	if want := checkpoint.NormalizeParties(opts.Parties); cp.Parties != nil && !slices.Equal(cp.Parties, want) {
		return nil, fmt.Errorf("%w: the checkpoint at offset %d was ingested for the parties %q, Options.Parties are %q",
			ErrPartiesDiffer, cp.Offset, cp.Parties, want)
	}
	dedupAt, claimed, err := dd.OffsetOf(ctx, db, cp.UpdateID)
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	ingestedAt := cp.UpdateOffset // where the checkpoint last saw it: after a replay, its new offset
	if ingestedAt == 0 {
		ingestedAt = dedupAt // the checkpoint was rewound since
	}
	if !claimed && opts.Mode == ModeNonUnique {
		// The non-unique mode replays every transaction at tRecovery and
		// relies on dedup to drop those already ingested. Their ids are
		// gone (retention pruned them, or they were deleted by hand): they
		// would be applied twice.
		return nil, fmt.Errorf("%w: the last ingested update %s (record time %s) is not in the dedup table; resuming before tRecovery would apply the transactions at tRecovery again. If the record times at tRecovery are unique, use %s mode",
			ErrDedupMissing, cp.UpdateID, cp.RecordTime.Format(time.RFC3339Nano), ModeUnique)
	}
	rw := &Rewind{
		Schema:         opts.Schema,
		Mode:           opts.Mode,
		AdminAPI:       opts.AdminAPI,
		From:           cp.Offset,
		LastUpdateID:   cp.UpdateID,
		RecoveryTime:   cp.RecordTime,
		SynchronizerID: cp.SynchronizerID,
		IngestedOffset: ingestedAt,
		Note:           opts.Note,
	}
	rw.OtherSynchronizers = otherSynchronizers(cp)
	if ids := rw.otherIDs(); len(ids) > 0 {
		opts.Logger.Warn("recovery: the Integration DB has record times of other synchronizers: offRecovery is kept below what the participant numbered after them, but their record times are not rewound; a transaction of theirs ingested before that the participant now numbers after the last ingested transaction stops ingestion (see the package's Limits)",
			"synchronizer_id", rw.SynchronizerID, "other_synchronizers", strings.Join(ids, ","))
	}

	exact, err := waitForRecoveryTime(ctx, p, opts, rw)
	if err != nil {
		return nil, err
	}

	// Step 5: offRecovery. The calls left are bounded by Options.Timeout
	// as well. A context of its own, not ctx reassigned: the error says
	// ctx's end (ctxerr.Wrap, deferred), not this one's, cancelled on
	// return.
	cctx, cancel := context.WithTimeout(ctx, opts.Timeout+callGrace)
	defer cancel()
	switch opts.Mode {
	case ModeUnique:
		rw.LookupTime = rw.RecoveryTime
		rw.To = exact
		if rw.ParticipantOffset < exact {
			return nil, fmt.Errorf("%w: the participant has the last ingested update %s at offset %d, but transactions up to offset %d share its record time %s; resuming after %d would skip them",
				ErrRecordTimeNotUnique, rw.LastUpdateID, rw.ParticipantOffset, exact, rw.RecoveryTime.Format(time.RFC3339Nano), exact)
		}
	case ModeNonUnique:
		rw.LookupTime = rw.RecoveryTime.Add(-time.Microsecond)
		force := rw.AdminAPI != Admin34
		off, err := lookupBefore(cctx, p, opts, rw, force)
		if err != nil {
			return nil, err
		}
		if l := rw.Lookups[len(rw.Lookups)-1]; l.Err != nil && len(rw.OtherSynchronizers) > 0 {
			// Nothing of the checkpoint's synchronizer lies before
			// tRecovery: the treasury's first transactions there. Those
			// of it ingested at tRecovery precede the rest there (the
			// participant keeps each synchronizer's order): resume just
			// below where it now has the first of them, not at 0, whose
			// replay of the whole ledger meets ids of the other
			// synchronizers that PruneBefore deleted within its rule.
			// The other synchronizers' look-ups below lower it further
			// where needed.
			first, _, ok, err := ingestedOffsetsAt(cctx, db, dd, p, opts, ledger.SynchronizerTime{SynchronizerID: rw.SynchronizerID, RecordTime: rw.RecoveryTime})
			if err != nil {
				return nil, err
			}
			if ok && first > 0 {
				off, rw.FirstAt = first-1, first
			}
		}
		if off >= rw.ParticipantOffset {
			return nil, fmt.Errorf("%w: the highest offset at or before %s is %d, not below the last ingested update %s at offset %d",
				ErrUntrustedAnswer, rw.LookupTime.Format(time.RFC3339Nano), off, rw.LastUpdateID, rw.ParticipantOffset)
		}
		rw.To = off
	}
	if err := lowerForOtherSynchronizers(cctx, db, dd, p, opts, rw); err != nil {
		return nil, err
	}
	if err := lowerForUnknownSynchronizers(cctx, p, opts, rw); err != nil {
		return nil, err
	}
	if rw.To < rw.ParticipantOffset && !claimed {
		// Only ModeUnique gets here (ModeNonUnique refused above): another
		// synchronizer's look-up, or the treasury's transaction on a
		// synchronizer the Integration DB never saw, put offRecovery below
		// the last ingested transaction, which would be replayed without
		// its dedup row.
		by := "another synchronizer's look-up"
		if rw.unknownLowers() {
			by = fmt.Sprintf("the treasury's transactions on synchronizers the Integration DB never saw (%s)", strings.Join(unknownIDs(rw), ", "))
		}
		return nil, fmt.Errorf("%w: the last ingested update %s (record time %s) is not in the dedup table, and %s put offRecovery %d below it (at offset %d): it would be applied again",
			ErrDedupMissing, cp.UpdateID, cp.RecordTime.Format(time.RFC3339Nano), by, rw.To, rw.ParticipantOffset)
	}
	if pv, ok := p.(prunedOffsetsReader); ok && rw.To < rw.ParticipantOffset {
		// The participant cannot stream from below its pruning
		// offset. Everything up to it precedes the last ingested
		// transaction (which it still serves) and was ingested, since
		// pruning happens only at or below the checkpoint: resume
		// there instead.
		po, err := prunedOffsets(cctx, pv, opts)
		if err != nil {
			return nil, fmt.Errorf("recovery: read the participant's pruning offset: %w", err)
		}
		if pruned := po.ParticipantPrunedUpToInclusive; pruned > rw.To && pruned < rw.ParticipantOffset {
			opts.Logger.Info("recovery: offRecovery is below the participant's pruning offset; resuming at the pruning offset",
				"off_recovery", rw.To, "pruned_up_to", pruned, "last_update_id", rw.LastUpdateID, "participant_offset", rw.ParticipantOffset)
			rw.PrunedUpTo, rw.To = pruned, pruned
		}
	}
	if end, err := p.LedgerEnd(cctx); err == nil {
		rw.LedgerEnd = end
	} else {
		rw.LedgerEnd = -1
	}
	opts.Logger.Info("recovery: offRecovery found", "mode", rw.Mode, "off_recovery", rw.To, "checkpoint_offset", rw.From,
		"last_update_id", rw.LastUpdateID, "participant_offset", rw.ParticipantOffset, "admin_api", rw.AdminAPI.String())
	return rw, nil
}

// callGrace is how long past Options.Timeout a call to the participant
// may take before Plan gives up on it.
const callGrace = 5 * time.Second

// waitForRecoveryTime polls until the participant has processed tRecovery
// and knows the last ingested update. It returns the answer of the exact
// look-up of tRecovery and fills rw.ParticipantOffset, rw.AdminAPI,
// rw.Waited and rw.Lookups.
func waitForRecoveryTime(ctx context.Context, p Participant, opts Options, rw *Rewind) (int64, error) {
	start := time.Now()
	deadline := start.Add(opts.Timeout)
	// Each call is bounded as well (callGrace past the deadline, so that
	// a call in flight at the deadline can still bring the participant's
	// answer): one that is accepted and never answered must not hold Plan.
	wctx, cancel := context.WithDeadline(ctx, deadline.Add(callGrace))
	defer cancel()
	timedOut := func(err error) bool { return err != nil && ctx.Err() == nil && wctx.Err() != nil }
	var prev error // the reason of the attempt before
	filter := ledger.Filter{Parties: opts.Parties, Interfaces: []ledger.Identifier{}}
	at := rw.RecoveryTime.Format(time.RFC3339Nano)
	for attempt := 1; ; attempt++ {
		var reason error
		cut := false // a call was cut at the deadline
		exact, err := p.HighestOffsetByTimestamp(wctx, rw.SynchronizerID, rw.RecoveryTime, false)
		switch {
		case err == nil:
			tx, uerr := p.UpdateByID(wctx, rw.LastUpdateID, filter)
			if uerr == nil {
				// Ask again: a participant still catching up may have
				// processed more transactions at tRecovery since the first
				// answer, up to the last ingested one.
				if exact, err = p.HighestOffsetByTimestamp(wctx, rw.SynchronizerID, rw.RecoveryTime, false); err != nil {
					if (ledger.IsRetryable(err) && ctx.Err() == nil) || timedOut(err) {
						reason, cut = err, timedOut(err)
						break
					}
					return 0, fmt.Errorf("recovery: look up tRecovery %s on synchronizer %s: %w", at, rw.SynchronizerID, err)
				}
				rw.ParticipantOffset = tx.Offset
				rw.Waited = time.Since(start)
				rw.Lookups = append(rw.Lookups, Lookup{SynchronizerID: rw.SynchronizerID, Time: rw.RecoveryTime, Offset: exact})
				if tx.Offset > exact {
					return 0, fmt.Errorf("%w: the highest offset at tRecovery %s is %d, below the last ingested update %s at offset %d",
						ErrUntrustedAnswer, at, exact, rw.LastUpdateID, tx.Offset)
				}
				return exact, nil
			}
			if !errors.Is(uerr, ledger.ErrNotFound) && !ledger.IsRetryable(uerr) && !timedOut(uerr) {
				return 0, fmt.Errorf("recovery: look up the last ingested update %s: %w", rw.LastUpdateID, uerr)
			}
			if pv, ok := p.(prunedOffsetsReader); ok && errors.Is(uerr, ledger.ErrNotFound) {
				// Not recovered yet, or pruned: waiting helps only with the former.
				if po, perr := pv.PrunedOffsets(wctx); perr == nil && lowestAtRecoveryTime(wctx, p, rw, exact, po.ParticipantPrunedUpToInclusive) <= po.ParticipantPrunedUpToInclusive {
					return 0, fmt.Errorf("recovery: %w: the participant has processed tRecovery %s on synchronizer %s (highest offset at it %d) but pruned up to offset %d, the last ingested update %s with it: it cannot replay from tRecovery. Restore a node backup taken before that pruning: %w",
						ledger.ErrPruned, at, rw.SynchronizerID, exact, po.ParticipantPrunedUpToInclusive, rw.LastUpdateID, uerr)
				}
			}
			if timedOut(uerr) {
				reason, cut = uerr, true
				break
			}
			if !errors.Is(uerr, ledger.ErrNotFound) {
				reason = fmt.Errorf("tRecovery is processed; the look-up of the last ingested update %s failed: %w", rw.LastUpdateID, uerr)
				break
			}
			reason = fmt.Errorf("tRecovery is processed but the last ingested update %s is not visible yet (if it stays so once the participant has caught up, it may have been a participant-local operation, an ACS import, party migration or repair, made after the backup and lost with the restore; see the package's Limits): %w", rw.LastUpdateID, uerr)
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case timedOut(err):
			reason, cut = err, true
		case errors.Is(err, ledger.ErrUnprocessedTimestamp):
			rw.detect(Admin35)
			reason = err
		case errors.Is(err, ledger.ErrInvalidTimestamp):
			// 3.4 says this for "not processed yet" and every other failure
			// alike: keep waiting, and show the participant's cause.
			rw.detect(Admin34)
			reason = err
		case errors.Is(err, ledger.ErrNoExactRecordTime):
			rw.detect(Admin35)
			return 0, fmt.Errorf("%w: it has processed tRecovery %s on synchronizer %s but has no transaction with exactly that record time (the last ingested update is %s): %w",
				ErrHistoryMismatch, at, rw.SynchronizerID, rw.LastUpdateID, err)
		case unknownSynchronizer(err):
			// 3.5, before the participant has processed any update of
			// the synchronizer (restored from a backup older than that,
			// and catching up), or while it is not connected to it.
			rw.detect(Admin35)
			reason = fmt.Errorf("the participant does not know synchronizer %s yet (still catching up, or not connected to it): %w", rw.SynchronizerID, err)
		case ledger.IsRetryable(err):
			reason = err
		default:
			return 0, fmt.Errorf("recovery: look up tRecovery %s on synchronizer %s: %w", at, rw.SynchronizerID, err)
		}

		if cut && prev != nil {
			reason = prev // the participant's last answer says more
		}
		prev = reason
		waited := time.Since(start)
		if !time.Now().Before(deadline) {
			// Nothing was written: the operator checks the node and runs
			// the runbook again.
			return 0, fmt.Errorf("%w after %s (tRecovery %s, synchronizer %s, last ingested update %s, checkpoint offset %d; nothing was written: "+
				"check that the participant is connected to synchronizer %s and recovering from it, then run the runbook again, "+
				"with a longer Options.Timeout (-timeout) if it is still catching up): %w",
				ErrNotCaughtUp, waited.Round(time.Millisecond), at, rw.SynchronizerID, rw.LastUpdateID, rw.From, rw.SynchronizerID, reason)
		}
		end, lerr := p.LedgerEnd(wctx)
		if lerr != nil {
			end = -1
		}
		opts.Logger.Info("recovery: waiting for the participant to process tRecovery",
			"t_recovery", at, "synchronizer_id", rw.SynchronizerID, "attempt", attempt, "waited", waited.Round(time.Millisecond), "ledger_end", end, "reason", reason)
		if opts.Progress != nil {
			opts.Progress(Progress{Attempt: attempt, Waited: waited, LedgerEnd: end, Reason: reason})
		}
		pause := min(opts.PollInterval, time.Until(deadline))
		t := time.NewTimer(max(pause, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// lowestAtRecoveryTime returns the lowest offset the last ingested update
// can have on a participant that has processed tRecovery and answered
// exact for it: exact itself, unless the participant is pruned below exact
// (pruned > 0), when other transactions may share tRecovery below exact and
// the last ingested one with them: then the offset after the highest one at
// or before tRecovery − 1µs. Without an answer it returns exact; so it does
// until the participant has processed a record time past tRecovery: one
// still catching up may yet process more transactions at tRecovery, the
// last ingested one among them, above its pruning offset.
func lowestAtRecoveryTime(ctx context.Context, p Participant, rw *Rewind, exact, pruned int64) int64 {
	if exact <= pruned || pruned <= 0 || !processedPast(ctx, p, rw) {
		return exact
	}
	off, err := p.HighestOffsetByTimestamp(ctx, rw.SynchronizerID, rw.RecoveryTime.Add(-time.Microsecond), rw.AdminAPI != Admin34)
	switch {
	case err == nil && off < exact:
		return off + 1
	case err != nil && errors.Is(err, ledger.ErrInvalidTimestamp):
		return 1 // tRecovery processed (3.4 and 3.5): nothing lies at or before tRecovery − 1µs
	}
	return exact
}

// processedPast reports whether the participant has processed a record
// time after tRecovery on its synchronizer: an exact look-up of
// tRecovery + 1µs is answered (3.4, 3.5+) or finds no transaction with
// exactly that time (3.5+), rather than failing as not processed yet.
func processedPast(ctx context.Context, p Participant, rw *Rewind) bool {
	_, err := p.HighestOffsetByTimestamp(ctx, rw.SynchronizerID, rw.RecoveryTime.Add(time.Microsecond), false)
	return err == nil || errors.Is(err, ledger.ErrNoExactRecordTime)
}

// unknownSynchronizer reports whether err is Canton 3.5's answer for a
// synchronizer the participant has not processed anything of.
func unknownSynchronizer(err error) bool {
	var ae *ledger.APIError
	return errors.As(err, &ae) && ae.Code == codes.InvalidArgument && ae.ErrorID == ledger.IDInvalidArgumentPartyMgmt
}

// detect records the admin API behaviour an error id revealed, unless the
// caller named one.
func (r *Rewind) detect(a AdminAPI) {
	if r.AdminAPI == AdminAuto {
		r.AdminAPI = a
	}
}

// prunedOffsets reads the participant's pruning offsets, retrying
// transient failures until the deadline of Options.Timeout (counted
// afresh), as lookupBefore does.
func prunedOffsets(ctx context.Context, pv prunedOffsetsReader, opts Options) (ledger.PrunedOffsets, error) {
	deadline := time.Now().Add(opts.Timeout)
	for {
		po, err := pv.PrunedOffsets(ctx)
		if err == nil || ctx.Err() != nil || !ledger.IsRetryable(err) || !time.Now().Before(deadline) {
			return po, err
		}
		opts.Logger.Warn("recovery: reading the pruning offset failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return po, err
		case <-time.After(opts.PollInterval):
		}
	}
}

// lowerForOtherSynchronizers lowers rw.To below the transactions of the
// other synchronizers (rw.OtherSynchronizers) that were not ingested: a
// restored participant recovers each synchronizer on its own, and may
// number another synchronizer's transactions after its ingested record
// time below offRecovery. For each one the participant has processed a
// record time after the ingested one, tS, of, offRecovery becomes at most
// the highest offset at or before tS − 1µs there (as ModeNonUnique does:
// a transaction at tS not ingested yet is not skipped; those ingested are
// dropped by dedup in the replay), or, if nothing lies at or before that
// time there, where the participant now has the last transaction ingested
// at tS (lastIngestedAt), not 0. So too for one it has processed tS of
// but nothing after, if it has an update at tS after the last one the
// Integration DB ingested there (or cannot tell: none of those is in the
// dedup table, or visible on the participant): record times are not
// unique. One it has processed nothing after tS of, and nothing at tS
// beyond what was ingested (still catching up, not connected, or left: its
// record time no longer moves) has numbered none of its transactions not
// ingested yet: they come after the ledger end, so after offRecovery, and
// the replay does not reach back to tS.
func lowerForOtherSynchronizers(ctx context.Context, db sqlx.QueryerContext, dd *dedup.Store, p Participant, opts Options, rw *Rewind) error {
	force := rw.AdminAPI != Admin34
	for _, o := range rw.OtherSynchronizers {
		past := o.RecordTime.Add(time.Microsecond)
		_, err := lookupRetrying(ctx, p, opts, o.SynchronizerID, past, false)
		switch {
		case err == nil, errors.Is(err, ledger.ErrNoExactRecordTime):
			// processed past tS
		case errors.Is(err, ledger.ErrUnprocessedTimestamp), errors.Is(err, ledger.ErrInvalidTimestamp), unknownSynchronizer(err):
			// Not processed past tS (3.4 says so with every failure, and
			// when nothing lies at or before it: nothing after it either).
			rw.Lookups = append(rw.Lookups, Lookup{SynchronizerID: o.SynchronizerID, Time: past, Err: err})
			later, lerr := laterAtIngestedTime(ctx, db, dd, p, opts, rw, o)
			if lerr != nil {
				return lerr
			}
			if !later {
				continue
			}
		default:
			return fmt.Errorf("recovery: look up %s, after the ingested record time, on synchronizer %s: %w", past.Format(time.RFC3339Nano), o.SynchronizerID, err)
		}
		t := o.RecordTime.Add(-time.Microsecond)
		off, err := lookupRetrying(ctx, p, opts, o.SynchronizerID, t, force)
		switch {
		case err == nil:
		case errors.Is(err, ledger.ErrInvalidTimestamp):
			// Nothing at or before t (tS processed): every update of the
			// synchronizer lies at tS or after, and those up to the last
			// one ingested at tS were ingested (the participant keeps
			// each synchronizer's order). Resume below where it now has
			// that one, rather than replay the whole ledger. If it cannot
			// tell (none ingested there: a synchronizer known from
			// OffsetCheckpoints alone), below the treasury's first
			// transaction there up to offRecovery, if any; 0 with a
			// Participant that does not stream updates.
			last, ok, lerr := lastIngestedAt(ctx, db, dd, p, opts, o)
			if lerr != nil {
				return lerr
			}
			off = 0
			if ok {
				off = last
			} else if ur, ok := p.(updatesReader); ok {
				first, serr := firstOnSynchronizer(ctx, p, ur, opts, o.SynchronizerID, rw.To)
				if serr != nil {
					return serr
				}
				if first == 0 {
					// None of the treasury's transactions there lies at
					// or below offRecovery: those after it are read.
					rw.Lookups = append(rw.Lookups, Lookup{SynchronizerID: o.SynchronizerID, Time: t, Force: force, Offset: rw.To, Err: err})
					continue
				}
				off = first - 1
			}
		default:
			return fmt.Errorf("recovery: look up the highest offset at or before %s on synchronizer %s (force=%t): %w", t.Format(time.RFC3339Nano), o.SynchronizerID, force, err)
		}
		l := Lookup{SynchronizerID: o.SynchronizerID, Time: t, Force: force, Offset: off, Err: err}
		rw.Lookups = append(rw.Lookups, l)
		if off < rw.To {
			opts.Logger.Info("recovery: another synchronizer's look-up lowers offRecovery",
				"synchronizer_id", o.SynchronizerID, "record_time", o.RecordTime, "off_recovery", off, "was", rw.To)
			rw.To, rw.LoweredBy = off, l
		}
	}
	return nil
}

// lowerForUnknownSynchronizers reads the synchronizers the participant
// reports and keeps, in rw.UnknownSynchronizers, those the Integration DB
// has no record time of (neither the checkpoint's nor another's). None of
// the treasury's transactions on them was ingested. The participant
// numbered those before its backup's ledger end as before, where the
// Integration DB would have ingested them: all come after it. After a
// restore that ledger end may lie anywhere below the last ingested
// transaction, and no look-up tells where (there is no ingested record
// time to look up as of): Plan reads the treasury's transactions up to
// offRecovery and puts it just below the first on one of them, as for a
// synchronizer known from OffsetCheckpoints alone. So it
// does when the participant has the last ingested transaction where it
// was ingested: that does not show the offsets below it unchanged (the
// restored participant may have moved another synchronizer's transaction
// after it and one of these before it, into the same count of offsets).
func lowerForUnknownSynchronizers(ctx context.Context, p Participant, opts Options, rw *Rewind) error {
	sl, ok := p.(synchronizerLister)
	if !ok {
		return nil
	}
	opts.Logger.Info("recovery: reading the synchronizers the participant reports (its next OffsetCheckpoint: about a minute on a quiet ledger)")
	filter := ledger.Filter{Parties: opts.Parties, Interfaces: []ledger.Identifier{}}
	times, err := retrying(ctx, opts, func() ([]ledger.SynchronizerTime, error) { return sl.SynchronizerTimes(ctx, filter) },
		"recovery: reading the participant's synchronizers failed; retrying")
	if endedByDeadline(ctx, err) {
		// Plan's bound (or the caller's) ended the wait: on a quiet ledger
		// Canton sends the checkpoint only after about a minute. The
		// participant may cut the stream at the deadline before ctx says
		// it ended.
		return fmt.Errorf("recovery: read the synchronizers the participant reports, to find those the Integration DB never saw: no OffsetCheckpoint arrived on a stream at its ledger end within Options.Timeout (%s) or before the caller's deadline (Canton sends one about a minute after the ledger goes quiet); nothing was written: check that the participant is connected to its synchronizers, then run the runbook again, with a longer Options.Timeout (-timeout) if it was under a minute: %w",
			opts.Timeout, deadlineErr(ctx, err))
	}
	if err != nil {
		return fmt.Errorf("recovery: read the synchronizers the participant reports (the first OffsetCheckpoint on a stream at its ledger end), to find those the Integration DB never saw: %w", err)
	}
	known := map[string]bool{rw.SynchronizerID: true}
	for _, o := range rw.OtherSynchronizers {
		known[o.SynchronizerID] = true
	}
	for _, t := range times {
		if !known[t.SynchronizerID] {
			rw.UnknownSynchronizers = append(rw.UnknownSynchronizers, t)
		}
	}
	if len(rw.UnknownSynchronizers) == 0 {
		return nil
	}
	ur, ok := p.(updatesReader)
	if !ok {
		opts.Logger.Warn("recovery: the participant reports synchronizers the Integration DB never saw; offRecovery lowered to 0, a replay of the whole ledger",
			"synchronizer_ids", strings.Join(unknownIDs(rw), ","), "was", rw.To)
		rw.To, rw.LoweredBy = 0, Lookup{}
		return nil
	}
	// Their transactions all lie after the node backup's ledger end, which
	// is at or above the participant's pruning offset (pruned before the
	// backup, as docs/OPERATIONS.md asks): read from there.
	from, err := scanFrom(ctx, p, opts, rw.To)
	if err != nil {
		return fmt.Errorf("recovery: read the participant's pruning offset, to read the treasury's transactions for synchronizers the Integration DB never saw: %w", err)
	}
	sc := &Scan{From: from, To: rw.To}
	opts.Logger.Info("recovery: the participant reports synchronizers the Integration DB never saw; reading the treasury's transactions up to offRecovery for theirs",
		"synchronizer_ids", strings.Join(unknownIDs(rw), ","), "from_exclusive", sc.From, "off_recovery", rw.To)
	first, err := firstTreasuryTxOn(ctx, ur, opts, unknownIDs(rw), sc.From, sc.To)
	if endedByDeadline(ctx, err) {
		// Plan's bound (or the caller's) ended the read, a read of the
		// treasury's history from the pruning offset: a long one takes
		// longer than a short Options.Timeout.
		return fmt.Errorf("recovery: read the treasury's transactions after offset %d up to offRecovery %d, for synchronizers the Integration DB never saw (%s): the read did not finish within Options.Timeout (%s) or before the caller's deadline; nothing was written: run the runbook again with a longer Options.Timeout (-timeout): %w",
			sc.From, sc.To, strings.Join(unknownIDs(rw), ", "), opts.Timeout, deadlineErr(ctx, err))
	}
	if err != nil {
		return fmt.Errorf("recovery: read the treasury's transactions after offset %d up to offRecovery %d, for synchronizers the Integration DB never saw (%s): %w",
			sc.From, sc.To, strings.Join(unknownIDs(rw), ", "), err)
	}
	sc.First = first
	rw.UnknownScan = sc
	if first == 0 {
		return nil
	}
	opts.Logger.Warn("recovery: the treasury has a transaction on a synchronizer the Integration DB never saw below offRecovery; offRecovery lowered below it",
		"synchronizer_ids", strings.Join(unknownIDs(rw), ","), "first_offset", first, "off_recovery", first-1, "was", rw.To)
	rw.To, rw.LoweredBy = first-1, Lookup{}
	return nil
}

// firstOnSynchronizer returns the offset of the treasury's first
// transaction on sync after the participant's pruning offset up to to, 0
// if there is none.
func firstOnSynchronizer(ctx context.Context, p Participant, ur updatesReader, opts Options, sync string, to int64) (int64, error) {
	from, err := scanFrom(ctx, p, opts, to)
	if err != nil {
		return 0, fmt.Errorf("recovery: read the participant's pruning offset, to read the treasury's transactions on synchronizer %s: %w", sync, err)
	}
	opts.Logger.Info("recovery: no look-up places another synchronizer's transactions; reading the treasury's transactions up to offRecovery for its first",
		"synchronizer_id", sync, "from_exclusive", from, "off_recovery", to)
	first, err := firstTreasuryTxOn(ctx, ur, opts, []string{sync}, from, to)
	if endedByDeadline(ctx, err) {
		// Plan's bound (or the caller's) ended the read, a read of the
		// treasury's history from the pruning offset, as for the
		// synchronizers the Integration DB never saw.
		return 0, fmt.Errorf("recovery: read the treasury's transactions after offset %d up to offRecovery %d, for synchronizer %s, which no look-up places: the read did not finish within Options.Timeout (%s) or before the caller's deadline; nothing was written: run the runbook again with a longer Options.Timeout (-timeout): %w",
			from, to, sync, opts.Timeout, deadlineErr(ctx, err))
	}
	if err != nil {
		return 0, fmt.Errorf("recovery: read the treasury's transactions after offset %d up to offRecovery %d, for synchronizer %s, which no look-up places: %w", from, to, sync, err)
	}
	return first, nil
}

// scanFrom is where a read of the treasury's transactions up to to starts
// (exclusive): the participant's pruning offset, which it cannot stream
// from below, if it tells it; else 0.
func scanFrom(ctx context.Context, p Participant, opts Options, to int64) (int64, error) {
	pv, ok := p.(prunedOffsetsReader)
	if !ok {
		return 0, nil
	}
	po, err := prunedOffsets(ctx, pv, opts)
	if err != nil {
		return 0, err
	}
	return min(po.ParticipantPrunedUpToInclusive, to), nil
}

// firstTreasuryTxOn reads the treasury's transactions after from up to to
// and returns the offset of the first on one of the synchronizers ids, 0
// if there is none. Transient failures resume
// the read after the last offset it received (a transaction or an
// OffsetCheckpoint), not from its beginning, until Options.Timeout. A read
// that ctx cuts short fails with an error wrapping ctx's, as the other
// reads after the wait do.
func firstTreasuryTxOn(ctx context.Context, ur updatesReader, opts Options, ids []string, from, to int64) (_ int64, err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	if from >= to {
		return 0, nil
	}
	wanted := map[string]bool{}
	for _, id := range ids {
		wanted[id] = true
	}
	filter := ledger.Filter{Parties: opts.Parties, Interfaces: []ledger.Identifier{}}
	at := from
	// read reads one stream after at; ended says it ended with status OK.
	read := func() (first int64, ended bool, err error) {
		st, err := ur.Updates(ctx, ledger.UpdatesRequest{BeginExclusive: at, EndInclusive: to, Filter: filter})
		if err != nil {
			return 0, false, err
		}
		defer st.Close()
		for {
			u, err := st.Recv()
			if errors.Is(err, io.EOF) {
				return 0, true, nil
			}
			if err != nil {
				return 0, false, err
			}
			if u.Kind == ledger.UpdateTransaction && wanted[u.Transaction.SynchronizerID] {
				return u.Transaction.Offset, false, nil
			}
			at = max(at, u.Offset())
		}
	}
	return retrying(ctx, opts, func() (int64, error) {
		for {
			if at >= to {
				return 0, nil // cut after the last item, before the end of the stream
			}
			begun := at
			first, ended, err := read()
			if err != nil || !ended || at == begun {
				return first, err
			}
			// A stream that ends with status OK before its end offset (a
			// proxy closing it cleanly) proves nothing of what it did not
			// deliver: only one that delivers nothing shows that the
			// treasury has no transaction after at up to to. Read on.
		}
	}, "recovery: reading the treasury's transactions for synchronizers whose transactions no look-up places failed; retrying", "synchronizer_ids", strings.Join(ids, ","))
}

// unknownIDs returns the ids of rw.UnknownSynchronizers.
func unknownIDs(rw *Rewind) []string { return synchronizerIDs(rw.UnknownSynchronizers) }

// laterAtIngestedTime reports, for another synchronizer o whose record
// time tS the participant has processed nothing after, whether it has an
// update at tS after the last one ingested there, or cannot tell: its
// highest offset at tS (the exact look-up; Canton 3.4 answers the highest
// at or before it) lies above where it now has the transactions the dedup
// table holds at tS, or the dedup table holds none, or the participant
// does not show one. False when it has not processed tS, or has no update
// at exactly tS (3.5).
func laterAtIngestedTime(ctx context.Context, db sqlx.QueryerContext, dd *dedup.Store, p Participant, opts Options, rw *Rewind, o ledger.SynchronizerTime) (bool, error) {
	at := o.RecordTime.Format(time.RFC3339Nano)
	highest, err := lookupRetrying(ctx, p, opts, o.SynchronizerID, o.RecordTime, false)
	rw.Lookups = append(rw.Lookups, Lookup{SynchronizerID: o.SynchronizerID, Time: o.RecordTime, Offset: highest, Err: err})
	switch {
	case err == nil:
	case errors.Is(err, ledger.ErrNoExactRecordTime), errors.Is(err, ledger.ErrUnprocessedTimestamp), errors.Is(err, ledger.ErrInvalidTimestamp), unknownSynchronizer(err):
		return false, nil
	default:
		return false, fmt.Errorf("recovery: look up %s, the ingested record time, on synchronizer %s: %w", at, o.SynchronizerID, err)
	}
	last, ok, err := lastIngestedAt(ctx, db, dd, p, opts, o)
	if err != nil || !ok {
		return err == nil, err
	}
	return highest > last, nil
}

// lastIngestedAt returns the highest offset at which the participant now
// has the transactions the dedup table holds at another synchronizer o's
// ingested record time; false if the table holds none there or the
// participant does not show one of them.
func lastIngestedAt(ctx context.Context, db sqlx.QueryerContext, dd *dedup.Store, p Participant, opts Options, o ledger.SynchronizerTime) (int64, bool, error) {
	_, last, ok, err := ingestedOffsetsAt(ctx, db, dd, p, opts, o)
	return last, ok, err
}

// ingestedOffsetsAt returns the lowest and the highest offset at which the
// participant now has the transactions the dedup table holds at o's record
// time on o's synchronizer; false if the table holds none there or the
// participant does not show one of them.
func ingestedOffsetsAt(ctx context.Context, db sqlx.QueryerContext, dd *dedup.Store, p Participant, opts Options, o ledger.SynchronizerTime) (first, last int64, ok bool, err error) {
	ingested, err := dd.At(ctx, db, o.SynchronizerID, o.RecordTime)
	if err != nil || len(ingested) == 0 {
		return 0, 0, false, err
	}
	filter := ledger.Filter{Parties: opts.Parties, Interfaces: []ledger.Identifier{}}
	for i, in := range ingested {
		tx, err := updateRetrying(ctx, p, opts, in.UpdateID, filter)
		if errors.Is(err, ledger.ErrNotFound) {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, fmt.Errorf("recovery: look up update %s, ingested at %s on synchronizer %s: %w",
				in.UpdateID, o.RecordTime.Format(time.RFC3339Nano), o.SynchronizerID, err)
		}
		if i == 0 {
			first = tx.Offset
		}
		first, last = min(first, tx.Offset), max(last, tx.Offset)
	}
	return first, last, true, nil
}

// updateRetrying reads one update by id, retrying transient failures
// until the deadline of Options.Timeout, as lookupRetrying does.
func updateRetrying(ctx context.Context, p Participant, opts Options, updateID string, f ledger.Filter) (*ledger.Transaction, error) {
	return retrying(ctx, opts, func() (*ledger.Transaction, error) { return p.UpdateByID(ctx, updateID, f) },
		"recovery: reading an update failed, retrying", "update_id", updateID)
}

// lookupRetrying is one admin API look-up, retrying transient failures
// until the deadline of Options.Timeout.
func lookupRetrying(ctx context.Context, p Participant, opts Options, sync string, t time.Time, force bool) (int64, error) {
	return retrying(ctx, opts, func() (int64, error) { return p.HighestOffsetByTimestamp(ctx, sync, t, force) },
		"recovery: look-up failed, retrying", "synchronizer_id", sync, "time", t)
}

// retrying calls call until it succeeds, fails with an error no retry
// fixes (ledger.IsRetryable), ctx ends or the deadline of Options.Timeout
// has passed (the last error; ctx's if it ends while waiting between
// calls), logging each retried failure as msg with args and waiting
// Options.PollInterval between calls.
func retrying[T any](ctx context.Context, opts Options, call func() (T, error), msg string, args ...any) (T, error) {
	deadline := time.Now().Add(opts.Timeout)
	for {
		v, err := call()
		if err == nil || ctx.Err() != nil || !ledger.IsRetryable(err) || !time.Now().Before(deadline) {
			return v, err
		}
		opts.Logger.Warn(msg, append(slices.Clip(args), "err", err)...)
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case <-time.After(opts.PollInterval):
		}
	}
}

// lookupBefore asks for the highest offset at or before rw.LookupTime, once
// the participant has processed tRecovery. Transient failures are retried
// until the deadline of Options.Timeout (counted afresh: the wait is over).
func lookupBefore(ctx context.Context, p Participant, opts Options, rw *Rewind, force bool) (int64, error) {
	off, err := lookupRetrying(ctx, p, opts, rw.SynchronizerID, rw.LookupTime, force)
	switch {
	case err == nil:
		rw.Lookups = append(rw.Lookups, Lookup{SynchronizerID: rw.SynchronizerID, Time: rw.LookupTime, Force: force, Offset: off})
		return off, nil
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case errors.Is(err, ledger.ErrInvalidTimestamp):
		// After the look-up of tRecovery succeeded, the only failure
		// left, on 3.4 as on 3.5 (force or not), is that no update lies
		// at or before the time: offRecovery 0. It tells the two apart
		// no more than retrying changes it (nor is it retried).
		rw.Lookups = append(rw.Lookups, Lookup{SynchronizerID: rw.SynchronizerID, Time: rw.LookupTime, Force: force, Err: err})
		return 0, nil
	default:
		return 0, fmt.Errorf("recovery: look up the highest offset at or before %s on synchronizer %s (force=%t): %w",
			rw.LookupTime.Format(time.RFC3339Nano), rw.SynchronizerID, force, err)
	}
}
