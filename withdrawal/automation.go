package withdrawal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ErrNoPreapproval is what a Submitter returns (wrapped or not) when the
// receiver has no transfer pre-approval for a 1-step transfer: the
// Automation then clears the attempt it recorded for that Submit and marks
// the withdrawal failed in the submission's transaction, which checked the
// schema's version and the gate (not through MarkFailedTx, whose checks
// the submission made already): its reservations are released and the
// Refunder credits the user back, as MarkFailedTx does. Unless it was
// handed to the Submitter before (Withdrawal.SubmitAttemptedAt) without a
// recorded result: that earlier submission may have committed, so the
// withdrawal is left to expire at its trecTgt if no transfer shows up.
var ErrNoPreapproval = errors.New("withdrawal: the receiver has no transfer pre-approval")

// Submitter is the exchange's Withdrawal Automation step that puts a
// withdrawal's transfer on the ledger.
//
// txhistory submits no commands: package ledger only reads (its generated
// code has the update and state services, not the command services), so
// Submit uses the exchange's own Ledger API client, on a connection of its
// own (a second Go build of the Ledger API's .proto files in the same
// program: see "Generated code" in package ledger). ledgertest's fake
// participant takes no commands either: a test's Submitter appends
// (Participant.Append) the transfer it would submit, TokenWorld.Transfer
// (or Offer) of a TransferSpec with Sender the treasury, Receiver
// w.Receiver, Amount w.Amount.String(), Instrument w.Instrument's Admin
// and ID, Reason w.ID (the reason metadata that ties the transfer to the
// request) and InputHoldings w.ReservedHoldings.
//
// Submit submits TransferFactory_Transfer for w, and must, so that a
// withdrawal is never paid out twice nor matched to the wrong request:
//   - spend exactly w.ReservedHoldings (inputHoldingCids): a second
//     submission of the same withdrawal then cannot commit, its inputs
//     being spent;
//   - set the reason metadata to w.ID, and send w.Amount of w.Instrument
//     to w.Receiver;
//   - set the deadline (executeBefore) so that the transfer cannot commit
//     with a record time after w.TrecTgt, when the withdrawal may be
//     expired and refunded (a record time of exactly w.TrecTgt still
//     completes it: expiry needs the ingested record time strictly past
//     w.TrecTgt; a margin of a microsecond or more costs nothing). Daml checks executeBefore against the
//     transaction's ledger time, and the synchronizer accepts a record
//     time up to its ledgerTimeRecordTimeTolerance (a dynamic synchronizer
//     parameter) after the ledger time: executeBefore = w.TrecTgt minus
//     that tolerance. A transfer committing after its withdrawal expired
//     is the anomaly illegal_transition (paid, and refunded);
//   - use w.ID as the command id for command deduplication, with the
//     same user id and act_as parties on every attempt: the participant
//     deduplicates by change ID (user id, act_as, command id), and
//     rejects a resubmission of a change it accepted within the
//     deduplication period (the submission's, at most the participant's
//     maximum deduplication duration). The submission id does not
//     deduplicate: give each attempt its own. Past that period, or on a
//     validator node restored from a backup that has not yet recovered the
//     first transaction, the command id does not stop a second transfer;
//     spending exactly w.ReservedHoldings does, and it is what the
//     Automation relies on when it hands a requested withdrawal to the
//     Submitter again (a lost "submitted" mark, a Submit error).
//
// It returns nil once the participant accepted the command; it need not
// wait for the transaction (ingestion will see it). ErrNoPreapproval marks
// the withdrawal failed on its first attempt (see ErrNoPreapproval); any
// other error leaves it requested, to be tried
// again next round until its trecTgt passes. Submit runs while the
// Automation holds the gate in share mode (Disable waits for it; the
// transaction holding it turns idle_in_transaction_session_timeout off for
// itself, so that the database's timeout cannot release it), under a
// context bounded by AutomationConfig.SubmitTimeout, from one goroutine at
// a time per Automation (its rounds run one at a time; two Automations
// sharing a Submitter call it concurrently). A panic in Submit rolls the
// round's transaction back and reaches the caller of RunOnce (or Run).
// Submit must return once ctx ends: one that does not (a client call
// without ctx) keeps the gate's share lock, and Disable, step 1 of every
// runbook (RestoreProcedure's too), waits for it until it returns or the
// process ends.
type Submitter interface {
	Submit(ctx context.Context, w *Withdrawal) error
}

// SubmitFunc adapts a function to the Submitter interface.
type SubmitFunc func(ctx context.Context, w *Withdrawal) error

// Submit calls f.
func (f SubmitFunc) Submit(ctx context.Context, w *Withdrawal) error { return f(ctx, w) }

// Defaults of AutomationConfig.
const (
	PollIntervalDefault  = time.Second
	BatchSizeDefault     = 100
	SubmitTimeoutDefault = time.Minute
)

// AutomationConfig configures an Automation. Zero fields take the
// documented defaults; NewAutomation refuses negative ones.
type AutomationConfig struct {
	// Submitter puts transfers on the ledger. Required: one holding a nil
	// func or pointer is refused.
	Submitter Submitter
	// PollInterval is the pause between rounds that found nothing to do, or
	// while the gate is closed. Default 1s.
	PollInterval time.Duration
	// BatchSize is the most withdrawals one round submits. Default 100.
	BatchSize int
	// SubmitTimeout bounds one Submit call. Default 1 minute.
	SubmitTimeout time.Duration
	// OnRound, if set, is called after each round.
	OnRound func(Round)
	// Logger defaults to the store's.
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with empty fields filled.
func (c AutomationConfig) WithDefaults() AutomationConfig {
	if c.PollInterval <= 0 {
		c.PollInterval = PollIntervalDefault
	}
	if c.BatchSize <= 0 {
		c.BatchSize = BatchSizeDefault
	}
	if c.SubmitTimeout <= 0 {
		c.SubmitTimeout = SubmitTimeoutDefault
	}
	return c
}

// Round is what one round of the Automation did.
type Round struct {
	// Paused is true when the gate was closed: nothing (more) was
	// submitted. GateReason says why it was closed (the reason of the
	// change that closed it, or that it was rewound: see Gate.Rewound).
	Paused     bool
	GateReason string
	// Submitted and Failed count withdrawals whose mark as submitted or as
	// failed (no pre-approval) committed in the round (a mark whose COMMIT
	// failed is read back: one that committed though the connection was
	// lost before its reply counts, logged at WARN, and fails nothing; the
	// same status set by another writer meanwhile, its mark rolled back,
	// does not);
	// Errors the Submit calls that failed otherwise.
	Submitted, Failed, Errors int
}

// Automation is the Withdrawal Automation loop: it hands requested
// withdrawals to the Submitter, oldest first (those whose last Submit
// failed, or whose mark did not commit, after the others), and stops submitting while the withdrawal gate
// is closed. Run one Automation per Integration DB; a second one (a
// rolling deploy) does not submit a withdrawal the first is submitting (a
// transaction-level advisory lock per withdrawal), but each keeps its own
// order of failed withdrawals. Make one with NewAutomation; the zero
// Automation is not usable.
type Automation struct {
	s   *Store
	cfg AutomationConfig
	log *slog.Logger

	// retried holds, for the requested withdrawals whose last Submit in
	// this process failed (and left them requested), or whose mark as
	// submitted or failed did not commit, when it failed: a
	// round lists them after those not failed, least recently failed
	// first, so that a head of withdrawals that keep failing cannot hold
	// the newer ones back until they expire.
	mu      sync.Mutex
	retried map[string]time.Time

	// round is held by the round running (a one-slot semaphore, so that a
	// waiting RunOnce can give up with its context): rounds of one
	// Automation, Run's and RunOnce's, run one at a time, and so do its
	// Submit calls, as the Submitter contract says.
	round chan struct{}
}

// NewAutomation returns an Automation submitting the withdrawals of s. It
// uses two of the Store's connections at a time (a submission's
// transaction, and the record of the attempt beside it): a pool limited to
// one is refused with ErrPoolTooSmall. A submission holding the first waits
// at most PollInterval for the second, then fails its round (Run logs it
// and tries again): a pool shared with an Ingester needs two connections
// beside the Ingester's (its lock's, and one per batch).
func NewAutomation(s *Store, cfg AutomationConfig) (*Automation, error) {
	if s == nil {
		return nil, errors.New("withdrawal: NewAutomation: nil store")
	}
	if cfg.Submitter == nil || nilcheck.Holds(cfg.Submitter) {
		return nil, errors.New("withdrawal: AutomationConfig.Submitter is required (it holds a nil func or pointer)")
	}
	for _, f := range []struct {
		name string
		neg  bool
		v    any
	}{
		{"PollInterval", cfg.PollInterval < 0, cfg.PollInterval}, {"BatchSize", cfg.BatchSize < 0, cfg.BatchSize},
		{"SubmitTimeout", cfg.SubmitTimeout < 0, cfg.SubmitTimeout},
	} {
		if f.neg {
			return nil, fmt.Errorf("withdrawal: AutomationConfig.%s is negative (%v): zero gives the default", f.name, f.v)
		}
	}
	cfg = cfg.WithDefaults()
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	a := &Automation{s: s, cfg: cfg, log: cfg.Logger, retried: map[string]time.Time{}, round: make(chan struct{}, 1)}
	if err := a.checkPool(); err != nil {
		return nil, err
	}
	return a, nil
}

// ErrPoolTooSmall: the Store's pool allows a single open connection; the
// Automation records each attempt on a second connection while its
// transaction holds the first.
var ErrPoolTooSmall = errors.New("withdrawal: the database pool allows 1 open connection; the Automation needs 2 (it records a submission attempt beside its transaction)")

func (a *Automation) checkPool() error {
	if a.s.db.Stats().MaxOpenConnections == 1 {
		return ErrPoolTooSmall
	}
	return nil
}

// Run runs rounds until ctx ends, and returns ctx's error (at once, an
// error for an Automation not made by NewAutomation). A full round is
// followed by the next at once; otherwise Run waits PollInterval. Database
// faults, and a schema not at this build's version, are logged and retried
// after PollInterval.
func (a *Automation) Run(ctx context.Context) error {
	if err := a.made(); err != nil {
		return err
	}
	paused := false
	for {
		round, err := a.RunOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// A connection string net/url cannot parse is quoted in
			// the error: withhold its password, as ingest's lines do.
			a.log.Warn("withdrawal: automation round failed, retrying", "in", a.cfg.PollInterval, "err", ingest.Redact(err.Error()))
		}
		if err == nil && round.Paused != paused { // a failed round says nothing of the gate
			paused = round.Paused
			if paused {
				a.log.Info("withdrawal: automation paused: the withdrawal gate is closed", "reason", round.GateReason)
			} else {
				a.log.Info("withdrawal: automation resumed: the withdrawal gate is open")
			}
		}
		if a.cfg.OnRound != nil {
			a.cfg.OnRound(round)
		}
		if err == nil && !round.Paused && round.Submitted+round.Failed >= a.cfg.BatchSize {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.cfg.PollInterval):
		}
	}
}

// made refuses an Automation not made by NewAutomation: its round slot
// does not exist, and waiting for it would wait until ctx ends, submitting
// nothing and saying nothing.
func (a *Automation) made() error {
	if a == nil || a.round == nil {
		return errors.New("withdrawal: Automation not made by NewAutomation (the zero Automation is not usable)")
	}
	return nil
}

// RunOnce runs one round: if the gate is open, it submits up to BatchSize
// requested withdrawals, oldest first (those whose last Submit in this
// Automation failed, or whose mark did not commit, after the others, least
// recently failed first), whose trecTgt the ingested record
// time has not reached (those it has reached are left for the reconciler to
// expire, once it passes them: their transfer could not commit any more,
// Submit's deadline being before trecTgt), marking each
// submitted (or failed, for ErrNoPreapproval). It stops early if the gate
// closes. A schema that is not at this build's version (schema.CheckCurrent:
// not migrated yet, or migrated by a newer release) is refused before
// anything is submitted, and again before each submission
// (schema.CheckCurrentTx, which a migration waits for): a newer release
// migrating during a round stops it. The error is that refusal, a
// database fault, ctx's error, or the refusal of an Automation not made
// by NewAutomation; Submit errors are counted in the Round
// and logged. Rounds of one Automation run one at a
// time: RunOnce called beside Run waits for Run's round to end.
func (a *Automation) RunOnce(ctx context.Context) (round Round, err error) {
	// A statement ctx cut short fails with the driver's words: say that
	// ctx ended, so that errors.Is finds it.
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	if err := a.made(); err != nil {
		return round, err
	}
	select {
	case a.round <- struct{}{}:
		defer func() { <-a.round }()
	case <-ctx.Done():
		return round, ctx.Err()
	}
	if err := a.checkPool(); err != nil { // the limit may have changed since NewAutomation
		return round, err
	}
	// Every round: a newer release may migrate the schema while this one runs.
	if err := schema.CheckCurrent(ctx, a.s.db, schema.WithSchema(a.s.cfg.Schema)); err != nil {
		return round, fmt.Errorf("withdrawal: automation: %w", err)
	}
	g, err := a.s.Gate(ctx)
	if err != nil {
		return round, err
	}
	if !g.Open() {
		return Round{Paused: true, GateReason: g.why()}, nil
	}
	ids, at := a.retriedList()
	ws, err := a.s.submittable(ctx, a.cfg.BatchSize, ids, at)
	if err != nil {
		return round, err
	}
	if err := a.pruneRetried(ctx, ids); err != nil {
		return round, err
	}
	for _, w := range ws {
		if err := a.submit(ctx, w, &round); err != nil {
			return round, err
		}
		if round.Paused {
			break
		}
	}
	return round, nil
}

// retriedList returns the withdrawals whose last Submit failed and when.
func (a *Automation) retriedList() (pq.StringArray, pq.StringArray) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids, at := make(pq.StringArray, 0, len(a.retried)), make(pq.StringArray, 0, len(a.retried))
	for id, t := range a.retried {
		ids = append(ids, id)
		at = append(at, t.UTC().Format(time.RFC3339Nano))
	}
	return ids, at
}

// setRetried records that the Submit of id failed now (failed), or
// forgets it.
func (a *Automation) setRetried(id string, failed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if failed {
		a.retried[id] = time.Now()
	} else {
		delete(a.retried, id)
	}
}

// pruneRetried forgets the withdrawals of ids that are no longer requested.
func (a *Automation) pruneRetried(ctx context.Context, ids pq.StringArray) error {
	if len(ids) == 0 {
		return nil
	}
	var open []string
	if err := a.s.db.SelectContext(ctx, &open, `SELECT id FROM `+a.s.withdrawals+` WHERE id = ANY($1) AND status = $2`,
		ids, string(StatusRequested)); err != nil {
		return fmt.Errorf("withdrawal: listing withdrawals to retry: %w", err)
	}
	keep := make(map[string]bool, len(open))
	for _, id := range open {
		keep[id] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		if !keep[id] {
			delete(a.retried, id)
		}
	}
	return nil
}

// submitLockClass is the first key of the transaction-level advisory lock
// a submission of a withdrawal holds (the second: a hash of the table and
// the withdrawal id).
const submitLockClass = 0x74787764 // "txwd"

// submit hands one withdrawal to the Submitter while holding the gate row
// in share mode, and records the result in the same transaction.
func (a *Automation) submit(ctx context.Context, w *Withdrawal, round *Round) error {
	// The connection that records the attempt is taken from the pool
	// before the transaction locks the gate: waiting for it while holding
	// the gate would deadlock with a Disable (or creates queued behind
	// one) holding the pool's other connections while it waits for the
	// gate.
	// Its first transaction, which records the attempt, begins at once:
	// idle outside a transaction while tx's statements run (or wait for
	// the gate), an idle_session_timeout of the role or database would
	// end its session. READ COMMITTED, with
	// idle_in_transaction_session_timeout off for it alone, it holds no
	// lock, nor a snapshot, until the record's UPDATE.
	rec := &pinnedConn{db: a.s.db}
	defer rec.close()
	recTx, err := rec.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err == nil {
		defer func() { _ = recTx.Rollback() }()
		_, err = recTx.ExecContext(ctx, `SELECT set_config('idle_in_transaction_session_timeout', '0', true)`)
	}
	if err != nil {
		return fmt.Errorf("withdrawal: a connection to record the submission of %q: %w", w.ID, ctxerr.Wrap(ctx, err))
	}
	// The transaction's connection, waited for no longer than PollInterval:
	// holding rec meanwhile, the round would keep the pool's last
	// connection for as long as ctx lives when nothing gives one back (a
	// pool of two shared with an Ingester, whose lock holds the other).
	own := &pinnedConn{db: a.s.db, wait: a.cfg.PollInterval}
	defer own.close()
	if err := own.take(ctx); err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("none free within %v of the %d the pool allows: the Automation needs two beside what else uses the pool (an Ingester's lock and batches)",
				a.cfg.PollInterval, a.s.db.Stats().MaxOpenConnections)
		}
		return fmt.Errorf("withdrawal: a second connection to submit %q: %w", w.ID, err)
	}
	handed := false // the participant accepted w's transfer
	// marked is the count of round that w's mark moves (Submitted or
	// Failed), once tx committed, and markedTo the status it moves w to:
	// a mark whose COMMIT fails leaves w requested, for the next round to
	// hand over and count.
	var marked *int
	var markedTo Status
	// failedLog logs w's failed mark, once it committed.
	var failedLog func()
	// recErr is the failure of the record of the attempt, which fails the
	// submission once tx has committed the undoing of the record.
	var recErr error
	// stamp is tx's time, which its mark writes (submitted_at, or a
	// failed withdrawal's updated_at).
	var stamp time.Time
	err = inTxOn(ctx, own, fmt.Sprintf("submitting %q", w.ID), func(tx *sqlx.Tx) error {
		// tx sits idle while the Submitter waits for the participant: an
		// idle_in_transaction_session_timeout of the role or database
		// would end its session, and the gate's share lock with it
		// (Disable would not wait for the submission). Off for tx only.
		// Its time (now(), which a mark writes) tells its mark apart from
		// another writer's when its COMMIT fails (read back below).
		if err := tx.QueryRowContext(ctx, `SELECT set_config('idle_in_transaction_session_timeout', '0', true), now()`).Scan(new(string), &stamp); err != nil {
			return fmt.Errorf("withdrawal: submitting %q: %w", w.ID, err)
		}
		// The restore locks first, before the schema's version is read: a
		// restore under way pauses the round at once, not behind
		// pg_restore, which holds the migration table (restoreLocks).
		restoring, waiting, err := a.s.restoreLocks(ctx, tx)
		if err != nil {
			return fmt.Errorf("withdrawal: submitting %q: withdrawal: reading the withdrawal gate: %w", w.ID, err)
		}
		if restoring {
			round.Paused, round.GateReason = true, Gate{Restoring: true}.why()
			return nil
		}
		// Every submission: a newer release may migrate the schema during
		// the round. Its migration waits for tx; a submission after it is
		// refused.
		if err := schema.CheckCurrentTx(ctx, tx, schema.WithSchema(a.s.cfg.Schema)); err != nil {
			return fmt.Errorf("withdrawal: automation: submitting %q: %w", w.ID, err)
		}
		g, err := a.s.readGate(ctx, tx, true, waiting)
		if err != nil {
			return fmt.Errorf("withdrawal: submitting %q: %w", w.ID, err)
		}
		if !g.Open() {
			round.Paused, round.GateReason = true, g.why()
			return nil
		}
		// One submission of a withdrawal at a time, whatever the rounds
		// running (two Automations in a rolling deploy, RunOnce beside
		// Run): the lock is held until tx ends, when the other round's
		// read below sees the withdrawal submitted.
		var mine bool
		if err := tx.GetContext(ctx, &mine, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, submitLockClass, a.s.withdrawals+" "+w.ID); err != nil {
			return fmt.Errorf("withdrawal: locking the submission of %q: %w", w.ID, err)
		}
		if !mine {
			return nil // another round is submitting it
		}
		cur, err := a.s.get(ctx, tx, w.ID)
		if err != nil {
			return err
		}
		if cur.Status != StatusRequested {
			a.setRetried(w.ID, false)
			return nil // the ledger or another writer moved it meanwhile
		}
		// Record the attempt before the Submitter runs, in a transaction
		// of its own (a second connection) that commits whatever becomes
		// of tx: should this process die, or tx fail, after the
		// participant accepted the command, the next round knows that a
		// transfer may be on the ledger. READ COMMITTED, as tx, whatever
		// the database's default: the guard re-reads a row another writer
		// changed meanwhile, where REPEATABLE READ or SERIALIZABLE fail.
		var attempted sql.NullTime // the attempt recorded, if still requested
		if err := inTxOn(ctx, begunTx{recTx}, "", func(rtx *sqlx.Tx) error {
			err := rtx.QueryRowContext(ctx, `UPDATE `+a.s.withdrawals+` SET submit_attempted_at = COALESCE(submit_attempted_at, now())
				WHERE id = $1 AND status = $2 RETURNING submit_attempted_at`, w.ID, string(StatusRequested)).Scan(&attempted)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}); err != nil {
			recErr = fmt.Errorf("withdrawal: recording the submission of %q: %w", w.ID, err)
			if cur.SubmitAttemptedAt != nil {
				return recErr // recorded before: the record changed nothing
			}
			// Its COMMIT may have gone through though its reply was lost
			// (a connection dropped): nothing is handed to the Submitter,
			// so an attempt that shows now is this record's (tx holds the
			// submission's lock, and the gate and restore locks the other
			// writers of an attempt wait for), and is undone in tx, which
			// commits the undoing, the round failing all the same.
			// Otherwise MarkFailed would refuse the withdrawal, and a
			// refusal of its first real submission leave it to expire.
			if _, uerr := tx.ExecContext(ctx, `UPDATE `+a.s.withdrawals+` SET submit_attempted_at = NULL
				WHERE id = $1 AND status = $2 AND submit_attempted_at IS NOT NULL`, w.ID, string(StatusRequested)); uerr != nil {
				return errors.Join(recErr, fmt.Errorf("withdrawal: undoing the record of the submission of %q, perhaps committed: %w", w.ID, uerr))
			}
			return nil
		}
		if !attempted.Valid {
			// Moved since the read above (failed by the exchange, expired
			// and refunded by ingestion, or paid out): not to submit.
			a.setRetried(w.ID, false)
			return nil
		}
		// rec waits with the Submitter, for the clearing below: idle
		// outside a transaction, an idle_session_timeout of the role or
		// database (PostgreSQL 14 and later) shorter than the wait would
		// end its session. In a transaction of its own, with
		// idle_in_transaction_session_timeout off for it alone, the
		// session stays; READ COMMITTED, it holds no lock, nor a snapshot
		// while it waits.
		held, err := rec.conn.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			return fmt.Errorf("withdrawal: submitting %q: %w", w.ID, err)
		}
		defer func() { _ = held.Rollback() }()
		if _, err := held.ExecContext(ctx, `SELECT set_config('idle_in_transaction_session_timeout', '0', true)`); err != nil {
			return fmt.Errorf("withdrawal: submitting %q: %w", w.ID, err)
		}
		sctx, cancel := context.WithTimeout(ctx, a.cfg.SubmitTimeout)
		serr := a.cfg.Submitter.Submit(sctx, cur)
		cancel()
		retry := serr != nil && ctx.Err() == nil &&
			(!errors.Is(serr, ErrNoPreapproval) || cur.SubmitAttemptedAt != nil)
		a.setRetried(w.ID, retry)
		switch {
		case serr == nil:
			handed = true
			if _, err := a.s.markSubmitted(ctx, tx, w.ID); err != nil {
				return err
			}
			marked, markedTo = &round.Submitted, StatusSubmitted
			a.log.Info("withdrawal: submitted", "id", w.ID, "amount", w.Amount, "instrument", w.Instrument, "receiver", w.Receiver)
		case errors.Is(serr, ErrNoPreapproval) && cur.SubmitAttemptedAt != nil:
			// Handed to the Submitter before without a recorded result:
			// that submission may have committed. Only expiry (trecTgt
			// passed, no transfer seen) may say it failed.
			round.Errors++
			a.log.Warn("withdrawal: no transfer pre-approval now, but an earlier submission may have committed: left to expire at trecTgt",
				"id", w.ID, "submit_attempted_at", *cur.SubmitAttemptedAt, "trec_tgt", cur.TrecTgt)
		case errors.Is(serr, ErrNoPreapproval):
			// The participant refused the only attempt recorded: forget
			// it at once (the advisory lock keeps other rounds out), so
			// that should the mark below not commit (the Refunder's
			// error, a crash), the next round fails the withdrawal rather
			// than leave it to expire, its user funds reserved.
			if attempted.Valid {
				_, err := held.ExecContext(ctx, `UPDATE `+a.s.withdrawals+` SET submit_attempted_at = NULL
					WHERE id = $1 AND status = $2 AND submit_attempted_at = $3`, w.ID, string(StatusRequested), attempted.Time)
				if err == nil {
					err = held.Commit()
				}
				if err != nil {
					return fmt.Errorf("withdrawal: clearing the refused submission of %q: %w", w.ID, ctxerr.Wrap(ctx, err))
				}
			}
			if _, err := a.s.markFailed(ctx, tx, w.ID, failureReason(serr)); err != nil {
				var te *TransitionError
				if errors.As(err, &te) {
					a.log.Warn("withdrawal: not marked failed", "id", w.ID, "err", ingest.Redact(err.Error()))
					return nil
				}
				// The mark does not commit (the Refunder's error, say):
				// the withdrawal stays requested, its attempt cleared.
				// Retry it after the others, so that a Refunder refusing
				// it for good does not stop every round before them.
				a.setRetried(w.ID, true)
				return err
			}
			marked, markedTo = &round.Failed, StatusFailed
			// Logged once tx commits: a COMMIT refusing the mark (a
			// deferred constraint of the Refunder's tables) leaves w
			// requested, unrefunded.
			failedLog = func() { a.log.Info("withdrawal: failed: no transfer pre-approval", "id", w.ID, "receiver", w.Receiver) }
		default:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			round.Errors++
			a.log.Warn("withdrawal: submission failed, will retry", "id", w.ID, "err", ingest.Redact("submit: "+serr.Error()))
		}
		return nil
	})
	// tx is over: own goes back, so that the read below has a connection
	// in a pool of the two the round needs (one lost with a reset, which
	// lib/pq does not report as driver.ErrBadConn, stays with own until
	// closed, and rec is held until submit returns).
	own.close()
	if err == nil && recErr != nil {
		return recErr
	}
	still := "still requested, it is handed to the Submitter again"
	if err != nil && marked != nil {
		// The mark was made but its COMMIT failed (nothing in the
		// transaction fails after it): refused (a deferred constraint of
		// the Refunder's tables refusing the credit), or lost with the
		// connection, perhaps after the server committed it (lib/pq cannot
		// tell, and database/sql does not retry a COMMIT). Whether it
		// committed is read back: a mark seen made, with tx's time, is
		// counted as one that reported its commit. Not one of another
		// writer's, made once tx rolled back (a second Automation's,
		// support's MarkFailed): its time is its own transaction's.
		cur, rerr := a.s.get(ctx, a.s.db, w.ID)
		mine := rerr == nil && (markedTo == StatusSubmitted && cur.SubmittedAt != nil && cur.SubmittedAt.Equal(stamp) ||
			markedTo == StatusFailed && cur.Status == StatusFailed && cur.UpdatedAt.Equal(stamp))
		switch {
		case mine:
			a.log.Warn("withdrawal: the mark committed, though its reply was lost", "id", w.ID, "status", markedTo,
				"err", ingest.Redact(err.Error()))
			err = nil
		case rerr != nil:
			still = fmt.Sprintf("whether the mark committed is unknown (reading it: %v); if still requested, it is handed to the Submitter again", rerr)
		case cur.Status != StatusRequested:
			still = fmt.Sprintf("now %s, moved by another writer: not handed to the Submitter again", cur.Status)
		}
	}
	if err == nil && marked != nil {
		*marked++
		if failedLog != nil {
			failedLog()
		}
	}
	if err != nil && marked != nil {
		// w stays requested, its refused attempt cleared. Retry it after
		// the others, as for a Refunder's error: a COMMIT refused for good
		// must not stop every round before them.
		a.setRetried(w.ID, true)
	}
	if err != nil && handed {
		return fmt.Errorf("withdrawal: the transfer of %q was submitted but not recorded (%s): %w", w.ID, still, err)
	}
	return err
}

// submittable lists requested withdrawals whose trecTgt the ingested
// record time has not reached, oldest first, those of retried (ids and the
// times their last Submit failed) last, least recently failed first.
func (s *Store) submittable(ctx context.Context, limit int, retried, failedAt pq.StringArray) ([]*Withdrawal, error) {
	times, err := s.recordTimes(ctx, s.db)
	if err != nil {
		return nil, err
	}
	c := s.clockArgs(times)
	ws, err := selectWithdrawals(ctx, s.db, `WITH `+clockCTE+`
		SELECT `+columns+` FROM `+s.withdrawals+` AS w
		LEFT JOIN unnest($6::text[], $7::timestamptz[]) AS f(retried_id, failed_at) ON f.retried_id = w.id
		WHERE w.status = $4 AND w.trec_tgt > `+clockOfRow+`
		ORDER BY f.failed_at NULLS FIRST, w.created_at, w.id LIMIT $5`,
		c.syncs, c.times, c.def, string(StatusRequested), limit, retried, failedAt)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: listing withdrawals to submit: %w", err)
	}
	return ws, nil
}

// failureReason is a Submitter's error as the failure reason of the
// withdrawal it failed: redacted as the automation's log of it is, for the
// exchange may show the reason to its user, and storable in a text column,
// which refuses a NUL byte and invalid UTF-8 (a participant's status
// message the error quotes is percent-decoded bytes).
func failureReason(err error) string {
	return strings.ReplaceAll(strings.ToValidUTF8(ingest.Redact(err.Error()), "\uFFFD"), "\x00", `\x00`)
}
