package withdrawal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/logattr"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
)

// Defaults of RestoreProcedure.
const (
	RestorePollDefault   = time.Second
	RestoreReportDefault = 10 * time.Second
	RestoreStillDefault  = 3 * time.Minute
)

// RestoreStep numbers the steps of the Integration DB restore procedure.
type RestoreStep int

// The steps, as the runbook ("Restoring the Canton Integration DB from a
// Backup") numbers them.
const (
	// StepDisable: disable creating withdrawals and stop the withdrawal
	// automation (close the gate); estimate tSafe.
	StepDisable RestoreStep = 1
	// StepRestore: restore the Integration DB from the backup (the
	// operator's), then close the restored gate again.
	StepRestore RestoreStep = 2
	// StepWait: wait until ingestion has ingested a record time past tSafe,
	// the largest trecTgt any in-flight withdrawal can have (on the store's
	// clock and on each synchronizer the restored withdrawals in flight
	// name), and no transaction set aside for review is unresolved.
	StepWait RestoreStep = 3
	// StepEnable: enable withdrawals again (open the gate). An Automation
	// left running resumes by itself; the runbook's step 4 also starts
	// again the Automation and the creation of withdrawals stopped for the
	// restore, which is the operator's to do once Run returns.
	StepEnable RestoreStep = 4
)

func (s RestoreStep) String() string {
	switch s {
	case StepDisable:
		return "disable withdrawals"
	case StepRestore:
		return "restore the Integration DB"
	case StepWait:
		return "wait for tSafe"
	case StepEnable:
		return "enable withdrawals"
	}
	return fmt.Sprintf("RestoreStep(%d)", int(s))
}

// RestoreProgress is reported by RestoreProcedure as it goes: at the start
// and end of each step and on every poll while it waits.
type RestoreProgress struct {
	Step    RestoreStep
	Message string
	// TSafe is the record time to wait for, once known.
	TSafe time.Time
	// Ingested is the ingested record time last read: the store's clock,
	// or the record time of one of RestoreReport.Synchronizers if earlier.
	Ingested time.Time
	// Waited is the time spent in StepWait so far.
	Waited time.Duration
	// Done is true on the last report of a step (StepWait's again if
	// step 4 has to wait again).
	Done bool
}

// RestoreReport is what RestoreProcedure did.
type RestoreReport struct {
	// TSafe is the record time the procedure waited for; Estimated says it
	// was computed as now + TTL rather than given.
	TSafe     time.Time
	Estimated bool
	// DisabledAt and EnabledAt are when the gate closed (step 1) and opened
	// (step 4), by the database clock.
	DisabledAt, EnabledAt time.Time
	// RestoredGateOpen is true if the restored database had the gate open
	// (it was open when the backup was taken) and step 2 closed it again
	// (step 1, when the database was restored before the procedure: Restore
	// nil).
	RestoredGateOpen bool
	// InFlight counts the withdrawals requested or submitted (their
	// transfer not seen on the ledger: pending_acceptance ones are, as an
	// offer) in the restored database, as
	// found when Restore has returned, and those of the restored database
	// that ingestion has moved since step 1 (Restore started it again:
	// they were open in the backup, pending_acceptance ones included)
	// (after a second restore during the procedure, in that restore's
	// database); LatestTrecTgt is the largest trecTgt among them
	// (over every restore). tSafe is raised to it if it is later.
	InFlight      int
	LatestTrecTgt time.Time
	// Synchronizers are those the withdrawals in flight name
	// (Request.SynchronizerID; over every restore), and those of the
	// withdrawals recovered since step 1 (Withdrawal.LedgerSynchronizerID,
	// and the request's if the RecoveryHook names one), and
	// RestoreProcedure.Synchronizers, sorted: step 3 also waits for their
	// record times to pass tSafe.
	Synchronizers []string
	// Ingested is the ingested record time with which the gate was opened:
	// after TSafe.
	Ingested time.Time
	// Waited is the time spent in step 3.
	Waited time.Duration
}

// RestoreProcedure is the "Restoring the Canton Integration DB from a
// Backup" runbook as code. Withdrawal requests written after the backup are
// lost by the restore while their transfers may be in flight on the
// ledger; the procedure keeps users from withdrawing those funds again
// until ingestion has caught up with every transfer that could still
// commit:
//
//  1. Disable: close the withdrawal gate (Create refuses, the Automation
//     pauses; Disable waits for creates and submissions in flight) and
//     estimate tSafe = Now() + TTL, unless TSafe is given.
//  2. Restore: call Restore, the operator's step (stop ingestion, restore
//     the database in place, start ingestion again). The restored gate
//     holds whatever it held at backup time, so the procedure closes it
//     again at once, and raises tSafe to the largest trecTgt of the
//     withdrawals the backup has in flight. Its requested withdrawals,
//     which may have been handed to the Submitter after the backup, it
//     records as attempted (Withdrawal.SubmitAttemptedAt): MarkFailed
//     refuses them (ErrSubmitAttempted) until the ledger or their
//     expiry ends them, by step 4. A backup taken before this
//     release's migrations is read once it is migrated (schema.Migrate:
//     ingestion started with migrations, or the migration job); the
//     procedure waits for that, saying so.
//  3. Wait until the ingested record time (the store's clock: the record
//     time ingested on Config.Synchronizer, or the earliest over
//     Config.Synchronizers, or over every synchronizer ingested; and the
//     record time of each synchronizer a restored withdrawal in flight
//     names, RestoreReport.Synchronizers) is after tSafe. Meanwhile ingestion re-ingests the
//     history since the backup: the Reconciler completes the restored
//     requests whose transfers it finds, recovers the lost ones
//     (RecoveryHook) and expires those whose trecTgt passed. tSafe is
//     compared with record times only, never with this process's clock.
//     It also waits while a transaction set aside for review is
//     unresolved: it may be the transfer of a withdrawal lost in the
//     restore, which no one has seen (the Reconciler expires nothing then
//     either). Progress says so; resolve the review rows to go on. While
//     the ingested record time stands still for StillAfter or more
//     (a participant's offset checkpoints move it even while the
//     treasury is idle), with no transaction ingested at it meanwhile
//     (thousands may share one record time after an ACS import, a party
//     migration or a repair), Progress and the log ask whether ingestion
//     is running: an Ingester stopped with an error would otherwise be
//     waited for in silence. If the
//     database is restored again meanwhile (a second restore: its gate went
//     back to before the closure of step 2, open most likely), Create
//     and the Automation's submissions count it as closed all the same
//     (the procedure's lock, see Restore), the
//     procedure closes the gate again at once, raises tSafe to the trecTgt
//     of the withdrawals in flight in that restore, as in step 2, and goes
//     on waiting; step 4 does the same.
//  4. Enable: open the gate with EnableAfter, which re-checks, once it
//     holds the gate row, that the ingested record time is past tSafe and
//     nothing is waiting for review, and records both times in the gate
//     log; if not (a rewind, the database restored again, a transaction
//     set aside meanwhile), the procedure waits again as in step 3. It
//     opens only the closure of step 2: if someone else changed the gate
//     meanwhile (closed it for an incident, say), Run fails, leaving the
//     gate as they set it. If the opening fails (a database error, a
//     schema not at this build's version: the database restored again
//     from a backup older than this release's migrations, or migrated by
//     a newer release), Run fails with the gate closed again, unless
//     someone else changed it since step 2 (opened it by hand, say): it
//     is left as they set it. An opening that committed though its reply
//     was lost (a connection dropped at its COMMIT) is told apart by the
//     gate's last change, this opening with its reason and tSafe: Run
//     then returns as when the opening reported itself.
//
// A lost request's synchronizer is not known: step 3 waits on the store's
// clock and on the synchronizers the restored withdrawals in flight name
// (Request.SynchronizerID), as lost ones may have been sent there too (one
// with no record time ingested yet holds the gate closed until it has; one
// whose record time no longer moves, as one the participant has left or
// one a request names wrongly, holds it closed for good: progress names
// those behind tSafe while the store's clock is past it, and, before that,
// those that stood still for StillAfter while it moved; once no transfer
// can still commit there, cancel Run and open the gate with
// Store.EnableAfter, which waits on the store's clock alone),
// and, once those are past tSafe, on the synchronizers of the withdrawals
// the RecoveryHook has re-created since step 1, where lost requests did
// go (step 4 reads them again under the gate's lock), and on those given
// in Synchronizers. A withdrawal lost on a synchronizer none of these
// covers (with Config.Synchronizer set, another one that no restored
// withdrawal in flight names, no recovered one used yet and Synchronizers
// does not list), whose transfer could still commit there, is not waited
// for. A treasury on
// several synchronizers should list them in Config.Synchronizers: with
// neither set, the clock is the earliest over the synchronizers the
// restored database has seen, and one the treasury began to use after the
// backup does not hold the gate closed.
//
// Progress is reported to Progress and logged. Run the procedure with the
// Reconciler and the History handler running in the ingestion service.
//
// The procedure restores and guards one schema (Store's). A database of
// several treasuries, a schema each, restored from one backup loses the
// requests of every schema: run one procedure per schema, all at once,
// whose Restore steps meet, so that every gate is closed before the one
// restore (docs/OPERATIONS.md, "Several treasuries in one Integration
// DB"). One started after the restore leaves its schema's gate the
// backup's until its step 1.
type RestoreProcedure struct {
	// Store is the Integration DB's withdrawal store. Required. The
	// database is restored in place: Store keeps using the same
	// connection settings.
	Store *Store
	// Restore restores the Integration DB from the backup: stop ingestion
	// (standby instances too: one waiting for the lock takes over at once,
	// and its batches can deadlock with pg_restore), restore (for PostgreSQL, for instance pg_restore --clean
	// --single-transaction into the same database), call
	// tokenstd.RenumberAfterRestore, start ingestion again. (Step 2 calls
	// RenumberAfterRestore too, for a restore done without it: entries
	// ingested before that may get Seq values readers went past.)
	// It runs after the gate is closed. Nil means the database was restored
	// before Run was called: the procedure then only closes the restored
	// gate and goes on. The restored gate is the backup's, open most
	// likely, until step 2 closes it again. Meanwhile the procedure holds
	// an advisory lock (on a connection of the Store's pool of its own,
	// from before step 1's closing until step 2's), which pg_restore does
	// not undo: Create, MarkFailed and the Automation's submissions of
	// every Store of this release on the same database find it taken and
	// refuse (ErrWithdrawalsDisabled; the round pauses), whatever gate they
	// read last: at once, before they read any table (the schema's
	// version included), so that they neither wait behind pg_restore nor
	// deadlock with it. A second one, on the same connection, it holds until step 4
	// has opened the gate (before its last report to Progress), or until
	// Run returns otherwise: should the database be restored again during
	// step 3 or 4, they count its gate (the backup's, open most likely) as
	// closed until the procedure closes it again (Gate.RestoreWaiting), and
	// a second RestoreProcedure on the schema waits for the first to open
	// the gate or return (cancel the first to restore again with the
	// second). Unlike the first, it does not keep them off the tables: a
	// Create or submission during such a second pg_restore reads the
	// schema's version and the gate's row (Create the withdrawal table
	// too) and may deadlock with it
	// (SQLSTATE 40P01: the Create fails, or pg_restore, which then
	// restores nothing); a restore again through a new procedure holds
	// them off as step 2 does. The connection is held for the
	// whole procedure, its transaction idle without a snapshot (nothing
	// held back from VACUUM); with an Ingester on a pool of three shared
	// with the Store, its batches do not overlap meanwhile. They do not
	// hold back an older release's processes, a restore into another
	// database or onto another server the processes then reach
	// (PostgreSQL's advisory locks are per database), or, if
	// Restore ends the database's sessions (pg_terminate_backend), what
	// comes after that (until the procedure has closed the restored gate):
	// a Store that read the gate after step 1 still treats the
	// restored gate as closed (Gate.Rewound), one that did not cannot tell,
	// and a Create or an Automation round would go through on the restored
	// database: the Create commits, the round hands the backup's requested
	// withdrawals, perhaps paid already, to the Submitter again (its
	// contract, spending exactly ReservedHoldings, keeps them from paying
	// out twice). Nor with a Store on a pool of one or two connections,
	// whose last the lock would take from the procedure (and from an
	// Ingester's batches on the same pool): it goes without them and warns. So
	// stop the Automation and the creation of withdrawals before the
	// restore all the same (the runbook's step 1).
	Restore func(ctx context.Context) error
	// TSafe is the record time after which no withdrawal in flight can
	// still commit: later than the trecTgt of every withdrawal created
	// before step 1. Zero: estimated as Now() + TTL in step 1.
	TSafe time.Time
	// TTL is the largest time to live the exchange gives withdrawals
	// (trecTgt = creation time + ttl), plus a margin for the skew between
	// this clock and the ledger's record time. Required when TSafe is zero.
	TTL time.Duration
	// Synchronizers are synchronizers to wait for besides those the
	// procedure finds: step 2 adds them to RestoreReport.Synchronizers,
	// so that step 3 and 4 wait for their record times to pass tSafe as
	// for the found ones. The procedure finds the synchronizers of the
	// restored withdrawals open, or moved or recovered since its own step
	// 1: a rerun passes the failed run's RestoreReport.Synchronizers, and
	// a run with Restore nil after ingestion ran on the restored database
	// the treasury's synchronizers (see Run).
	Synchronizers []string
	// Now is the clock for the estimate of tSafe. Default time.Now.
	Now func() time.Time
	// PollInterval is how often step 3 reads the ingested record time.
	// Default 1s. Negative, as ReportInterval: refused.
	PollInterval time.Duration
	// ReportInterval is how often step 3 logs while waiting (Progress is
	// called on every poll). Default 10s.
	ReportInterval time.Duration
	// StillAfter is how long the ingested record time may stand still,
	// with no transaction ingested at it, before step 3 asks whether
	// ingestion is running (or, if the store's clock moves meanwhile,
	// names the synchronizers that do not). Default
	// RestoreStillDefault: a participant sends an offset checkpoint,
	// which moves it, about once a minute while the treasury is idle.
	// Negative: never ask.
	StillAfter time.Duration
	// Reason starts the reason written to the gate log with each change,
	// followed by the step (for example "Integration DB restore: step 1,
	// before the restore"). Default "Integration DB restore".
	Reason string
	// Progress, if set, receives the progress reports, on Run's goroutine,
	// from step 1's locking until the gate opens with the procedure's locks
	// held: one that blocks holds Run and them (Create refuses meanwhile).
	// A panic in it goes on as Run says.
	Progress func(RestoreProgress)
	// Logger defaults to the store's.
	Logger *slog.Logger
}

// Run runs the procedure and returns what it did. It stops at the first
// step that fails, with that step's error, leaving the gate closed (when
// step 2 fails before it has closed the restored gate, Restore's error or
// one after it, the gate is closed again, as the database may be the
// backup's already; if that fails too, the error says so; a panic in
// Restore goes on once the gate is closed again, and one in Progress or
// the Logger during step 3 or 4 once a gate restored again meanwhile is
// closed again, before the locks are released; closing a gate again,
// it also records the requested withdrawals with no attempt recorded as
// attempted, as step 2 does, whether the closing worked or not, so that
// MarkFailed refuses them (ErrSubmitAttempted) before the procedure runs
// again: restored, one may have been handed to the Submitter after the
// backup; if that fails, the error says so); when
// ctx ends during the wait it returns ctx's error, the gate still closed;
// when it ends in another step before that step fails, the error wraps
// ctx's too (errors.Is finds context.DeadlineExceeded or
// context.Canceled).
// To go on after a failure, run it again, with Restore nil if the database
// is restored already: closing a closed gate and waiting again are
// harmless. Pass the first run's tSafe (in its report, its progress and
// its log lines) as TSafe: left zero, it is estimated again from the
// clock of the new run, and the gate stays closed a TTL longer than it
// needs. Pass the first run's RestoreReport.Synchronizers (Run returns
// the report with its error; its progress and log lines list them too)
// as Synchronizers: the new run finds the synchronizers of the restored
// withdrawals open, or moved or recovered, since its own step 1 only, and
// misses those ingestion closed between the runs. Add those of the
// withdrawals recovered since the first run's step 1 (recovered, created
// at or after its RestoreReport.DisabledAt: the report lists only those
// read once the other synchronizers were past tSafe). For a run killed
// before its report, or one that failed before step 2 listed the
// restored withdrawals, and for a first run with Restore nil when
// ingestion already ran on the restored database, pass the treasury's
// synchronizers, every one a lost request may have gone to.
func (p RestoreProcedure) Run(ctx context.Context) (*RestoreReport, error) {
	if p.Store == nil {
		return nil, errors.New("withdrawal: RestoreProcedure.Store is required")
	}
	if p.TSafe.IsZero() && p.TTL <= 0 {
		return nil, errors.New("withdrawal: RestoreProcedure: give TSafe, or TTL to estimate it as now + ttl")
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"PollInterval", p.PollInterval}, {"ReportInterval", p.ReportInterval}} {
		if f.v < 0 {
			return nil, fmt.Errorf("withdrawal: RestoreProcedure.%s is negative (%v): zero gives the default", f.name, f.v)
		}
	}
	if p.PollInterval == 0 {
		p.PollInterval = RestorePollDefault
	}
	if p.ReportInterval == 0 {
		p.ReportInterval = RestoreReportDefault
	}
	if p.StillAfter == 0 {
		p.StillAfter = RestoreStillDefault
	}
	if p.Reason == "" {
		p.Reason = "Integration DB restore"
	}
	if p.Logger == nil {
		p.Logger = p.Store.log
	}
	s, rep := p.Store, &RestoreReport{}
	report := func(pr RestoreProgress) {
		pr.TSafe = rep.TSafe
		if pr.Step != StepWait || pr.Done || pr.Waited == 0 {
			p.Logger.Info("withdrawal: restore procedure: "+pr.Message,
				logattr.Known("step", int(pr.Step), "tsafe", pr.TSafe, "ingested_record_time", pr.Ingested)...)
		}
		if p.Progress != nil {
			p.Progress(pr)
		}
	}
	// ctxEnded wraps ctx's error in err if ctx has ended (ctxerr.Wrap).
	// Call it when the step fails, not after a closing of the gate on a
	// context of its own, during which ctx may end.
	ctxEnded := func(err error) error { return ctxerr.Wrap(ctx, err) }
	// settled is set once Run returns through failed or step 4 has opened
	// the gate: from step 3 on, Run leaving otherwise (a panic) closes a
	// gate restored again first (see below).
	settled := false
	// failed reports err, ctxEnded already applied, as step's failure.
	failed := func(step RestoreStep, err error) (*RestoreReport, error) {
		settled = true
		err = fmt.Errorf("withdrawal: restore procedure step %d (%s): %w", int(step), step, err)
		// Logged and shown: withhold a password the error may quote (a
		// connection string net/url cannot parse), as ingest's lines do.
		report(RestoreProgress{Step: step, Message: "FAILED: " + ingest.Redact(err.Error()), Done: true})
		return rep, err
	}
	fail := func(step RestoreStep, err error) (*RestoreReport, error) { return failed(step, ctxEnded(err)) }

	// 1. Disable.
	report(RestoreProgress{Step: StepDisable, Message: "closing the withdrawal gate: Create refuses, the automation pauses"})
	restoredOpen := false
	if p.Restore == nil {
		// Restored before the procedure: the gate is the backup's now. A
		// failed read is only a gap in the report: the gate is closed
		// next whatever it was.
		if g, err := s.Gate(ctx); err != nil {
			p.Logger.Warn("withdrawal: restore procedure: reading the restored gate failed; closing it all the same", "err", ingest.Redact(err.Error()))
		} else {
			restoredOpen = g.Enabled
		}
	}
	// Until step 2 has closed the restored gate, Create and the
	// Automation's submissions find the restore lock taken and refuse,
	// whatever gate they read last; until Run returns (the gate opened by
	// step 4, or closed after a failure), they find the wait lock taken
	// and count the gate as closed (holdRestoreLock).
	release, restored, held, err := s.holdRestoreLock(ctx, func() {
		report(RestoreProgress{Step: StepDisable, Message: "waiting for the restore lock: creates and submissions in flight hold it for a moment, " +
			"another RestoreProcedure on this schema from its step 1 until it returns (its restore and its wait for tSafe: cancel it to restore again with this one)"})
	})
	if err != nil {
		return fail(StepDisable, err)
	}
	defer release()
	if !held {
		p.Logger.Warn("withdrawal: restore procedure: the Store's pool allows two connections or fewer, so the restore lock is not held (it would keep one until the procedure returns, and an Ingester's lock on the same pool another): a Store that has not read the gate since step 1 may create and submit on the restored database until the procedure closes its gate (step 2, or, restored again, step 3 or 4); stop them for the restore")
	}
	if err := s.Disable(ctx, p.Reason+": step 1, before the restore"); err != nil {
		return fail(StepDisable, err)
	}
	g, err := s.Gate(ctx)
	if err != nil {
		return fail(StepDisable, err)
	}
	rep.DisabledAt = g.ChangedAt
	rep.TSafe = normTime(p.TSafe)
	if rep.TSafe.IsZero() {
		rep.TSafe, rep.Estimated = normTime(p.Now().Add(p.TTL)), true
	}
	how := "given"
	if rep.Estimated {
		how = fmt.Sprintf("estimated as now + ttl (%s)", p.TTL)
	}
	report(RestoreProgress{Step: StepDisable, Done: true,
		Message: fmt.Sprintf("gate closed; tSafe = %s, %s", rep.TSafe.Format(time.RFC3339Nano), how)})

	// 2. Restore.
	// Until the restored gate is closed, a failure leaves the database
	// perhaps the backup's, with the backup's gate (open, most likely):
	// close it whatever happened, with a context of its own if ctx is what
	// ended. closeAgain does so for an err ctxEnded was applied to;
	// failOpen applies it first.
	closeAgain := func(step RestoreStep, err error) (*RestoreReport, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		derr := s.Disable(cctx, fmt.Sprintf("%s: step %d failed, the gate closed again", p.Reason, int(step)))
		// The database may be the backup's, its requests not recorded as
		// attempted yet (a Restore that failed after pg_restore, a
		// restore again during step 3 or 4 that the procedure had not
		// read): record them as step 2 does, before the locks go, or
		// MarkFailed would fail and refund one handed to the Submitter
		// after the backup until the procedure runs again. Recorded
		// already, or never restored, only requests never handed over
		// are, which the Automation then still submits once the gate
		// opens (as the run again would record them). Whether the
		// closing worked or not: MarkFailed reads no gate, and a
		// pg_restore that failed part way may have restored the
		// withdrawals but not the gate's table.
		rerr := s.recordRestoredAttempts(cctx)
		cancel()
		switch {
		case errors.Is(derr, context.DeadlineExceeded):
			// The closing's own 30 s ran out: its error wraps their end
			// (Disable's ctxerr.Wrap), which is not ctx's (cctx has none
			// of ctx's deadline). Its words only, so that errors.Is
			// finds a context's end only when ctx ended (ctxEnded).
			err = errors.Join(err, fmt.Errorf("closing the gate after the failure: not closed within 30 s: %v", derr))
		case derr != nil:
			err = errors.Join(err, fmt.Errorf("closing the gate after the failure: %w", derr))
		}
		switch {
		case rerr != nil:
			// Its words only, as above: cctx's end is not ctx's.
			err = errors.Join(err, fmt.Errorf("after the failure, the requested withdrawals not recorded as attempted (run the procedure again before MarkFailed): %v", rerr))
		case derr != nil:
			err = errors.Join(err, errors.New("after the failure, the requested withdrawals with no attempt recorded were recorded as attempted (MarkFailed refuses them)"))
		}
		return failed(step, err)
	}
	failOpen := func(step RestoreStep, err error) (*RestoreReport, error) { return closeAgain(step, ctxEnded(err)) }
	if p.Restore != nil {
		report(RestoreProgress{Step: StepRestore, Message: "restoring the Integration DB from the backup (operator step)"})
		// A panic or runtime.Goexit in Restore may leave the database
		// restored, as an error may: close its gate again on the way out.
		returned := false
		defer func() {
			if !returned {
				_, _ = failOpen(StepRestore, errors.New("Restore did not return (a panic or runtime.Goexit)"))
			}
		}()
		err := p.Restore(ctx)
		returned = true
		if err != nil {
			return failOpen(StepRestore, err)
		}
	} else {
		report(RestoreProgress{Step: StepRestore, Message: "the Integration DB was restored before the procedure (no Restore step given)"})
	}
	// Step 4 opens the gate only if this closure is still its last change:
	// not over a closure of someone else's meanwhile. Its time is read in
	// the closing transaction, which holds the gate's table lock.
	var closedAt time.Time
	// closeRestored closes the restored gate and takes the restored
	// database's withdrawals in flight into tSafe: after the restore of
	// step 2, and again if the database is restored once more before the
	// gate opens (its gate then went back to before closedAt).
	closeRestored := func(step RestoreStep, again bool) error {
		// pg_restore set the history's Seq back to the backup's: move it past
		// what readers may have seen (tokenstd.RenumberAfterRestore; the
		// Restore step should have done so before ingestion resumed).
		if err := tokenstd.RenumberAfterRestore(ctx, s.db, s.cfg.Schema); err != nil {
			return err
		}
		g, err := s.Gate(ctx)
		if err != nil {
			return err
		}
		rep.RestoredGateOpen = rep.RestoredGateOpen || g.Enabled || restoredOpen
		why := "step 2, the restored gate"
		if again {
			why = fmt.Sprintf("step %d, the gate restored again (as of %s)", int(step), g.ChangedAt.Format(time.RFC3339Nano))
		}
		if err := s.inTx(ctx, "", func(tx *sqlx.Tx) error {
			if err := s.DisableTx(ctx, tx, p.Reason+": "+why); err != nil {
				return err
			}
			g, err := s.GateTx(ctx, tx)
			closedAt = g.ChangedAt
			return err
		}); err != nil {
			return err
		}
		// A backup taken before this release's migrations restores an older
		// schema: wait until it is migrated (by ingestion started again with
		// migrations, or the migration job) before reading its withdrawals.
		for waited := false; ; waited = true {
			err := schema.CheckCurrent(ctx, s.db, schema.WithSchema(s.cfg.Schema))
			if err == nil {
				break
			}
			if !errors.Is(err, schema.ErrNotMigrated) || ctx.Err() != nil {
				return err
			}
			if !waited {
				report(RestoreProgress{Step: step, Message: "the restored schema predates this build, waiting for its migration: " + err.Error()})
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(p.PollInterval):
			}
		}
		// A request the backup has requested may have been handed to the
		// Submitter after the backup was taken, its attempt lost with the
		// restore: record one (as migration 008 does), so that MarkFailed
		// refuses it (ErrSubmitAttempted) until the ledger's outcome or its
		// expiry, which step 3 waits for, ends it.
		if err := s.recordRestoredAttempts(ctx); err != nil {
			return err
		}
		// In flight in the restored database: still requested or submitted,
		// or moved since step 1 (by ingestion, started again by Restore:
		// those of the backup it moved were open in it). The synchronizers
		// they name, and their trecTgt, count even once their transfers
		// are ingested.
		open, err := selectWithdrawals(ctx, s.db, `SELECT `+columns+` FROM `+s.withdrawals+`
			WHERE status = ANY($1) OR (NOT recovered AND updated_at >= $2) ORDER BY created_at, id`,
			statusNames(beforeLedger), rep.DisabledAt)
		if err != nil {
			return fmt.Errorf("withdrawal: listing the restored withdrawals in flight: %w", err)
		}
		rep.InFlight = len(open)
		rep.addSynchronizers(p.Synchronizers...)
		for _, w := range open {
			if w.TrecTgt.After(rep.LatestTrecTgt) {
				rep.LatestTrecTgt = w.TrecTgt
			}
			rep.addSynchronizers(w.SynchronizerID)
		}
		msg := "restored; the gate (closed) was closed again"
		switch {
		case again:
			msg = fmt.Sprintf("the Integration DB was restored again (its gate went back to %s, before step 2 closed it): the gate closed again", g.ChangedAt.Format(time.RFC3339Nano))
		case rep.RestoredGateOpen:
			msg = "restored; the restored gate was open (as at backup time): closed again"
		}
		msg += fmt.Sprintf("; %d withdrawals in flight in the backup", rep.InFlight)
		if rep.LatestTrecTgt.After(rep.TSafe) {
			rep.TSafe = rep.LatestTrecTgt
			msg += fmt.Sprintf(", the latest trecTgt %s is later: tSafe raised to it", rep.TSafe.Format(time.RFC3339Nano))
		}
		if len(rep.Synchronizers) > 0 {
			msg += fmt.Sprintf("; waiting for the record times of the synchronizers they name (and RestoreProcedure.Synchronizers) too: %v", rep.Synchronizers)
		}
		report(RestoreProgress{Step: step, Done: !again, Message: msg})
		return nil
	}
	if err := closeRestored(StepRestore, false); err != nil {
		return failOpen(StepRestore, err)
	}
	// The restored gate is closed: Create and the Automation may read it
	// again (a stored request is answered). The wait lock stays held until
	// Run returns, the gate opened or closed again: should the database be
	// restored again meanwhile, its gate is the backup's (open, most
	// likely) until the procedure's next read of it closes it, and a Store
	// that has not read the gate since step 1 could not tell
	// (Gate.RestoreWaiting).
	restored()
	// restoredAgain reports whether the gate went back to before the
	// closure of step 2: the database was restored once more. Step 3 and
	// 4 then close it again and wait for tSafe anew.
	restoredAgain := func(g Gate) bool { return g.ChangedAt.Before(closedAt) }
	// failWaiting reports a failure of step 3 or 4. The database may have
	// been restored again since the procedure last read its gate (an
	// operator who cancels the procedure to run it again on it): its gate,
	// the backup's (open, most likely), is closed again, with a context of
	// its own, before the locks are released, unless the gate is still
	// this run's closure or changed since by someone else.
	failWaiting := func(step RestoreStep, err error) (*RestoreReport, error) {
		err = ctxEnded(err)
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		g, gerr := s.Gate(gctx)
		cancel()
		if gerr == nil && !restoredAgain(g) {
			return failed(step, err)
		}
		return closeAgain(step, err)
	}
	// A panic or runtime.Goexit during step 3 or 4 (in Progress or the
	// Logger, say) releases the locks on the way out (the deferred
	// release), perhaps over a database restored again since the procedure
	// last read its gate: close that gate again first, as failWaiting does,
	// and let the panic go on. Progress, most likely what panicked, is not
	// called again.
	waitStep := StepWait
	defer func() {
		if !settled {
			p.Progress = nil
			_, _ = failWaiting(waitStep, errors.New("Run did not return (a panic or runtime.Goexit, in Progress or the Logger perhaps)"))
		}
	}()
	// readClock reads the ingested record time the gate waits on. Once it
	// is past tSafe, the synchronizers of the withdrawals recovered since
	// step 1 (lost requests went there) are waited for too: read after the
	// record times, so that a recovery committed with them is seen.
	readClock := func() (time.Time, checkpoint.Checkpoint, error) {
		t, cp, err := s.restoreIngestedTime(ctx, rep.Synchronizers)
		if err != nil || !t.After(rep.TSafe) {
			return t, cp, err
		}
		more, err := s.recoveredSynchronizers(ctx, s.db, rep.DisabledAt)
		if err != nil || !rep.addSynchronizers(more...) {
			return t, cp, err
		}
		report(RestoreProgress{Step: StepWait, Ingested: t, Message: fmt.Sprintf("withdrawals lost in the restore were recovered from %v: "+
			"waiting for the record times of %v", more, rep.Synchronizers)})
		return s.restoreIngestedTime(ctx, rep.Synchronizers)
	}

	// 3. Wait for tSafe, then 4. open the gate; an opening refused
	// waits for tSafe again, as step 3.
	start := time.Now()
	lastLog := start
	var ingested, seen, clockSeen time.Time
	// times are the record times ingested was last read from, and lastTx
	// the last ingested transaction then.
	var times map[string]time.Time
	var lastTx string
	// movedAt is when the ingested record time last moved, or a
	// transaction was ingested at it (thousands may share one record
	// time), or step 3 began; clockMovedAt the same for the store's clock.
	movedAt := start
	clockMovedAt := start
	unresolved := 0
	for {
		waitStep = StepWait
		report(RestoreProgress{Step: StepWait, Message: "waiting for ingestion to ingest a record time after tSafe"})
		for {
			if g, err := s.Gate(ctx); err == nil && restoredAgain(g) {
				if err := closeRestored(StepWait, true); err != nil {
					return failOpen(StepWait, err)
				}
			} else if err != nil && ctx.Err() == nil {
				p.Logger.Warn("withdrawal: restore procedure: reading the gate failed, retrying", "err", ingest.Redact(err.Error()))
			}
			var read checkpoint.Checkpoint
			readBefore := lastTx
			if ingested, read, err = readClock(); err != nil {
				if ctx.Err() != nil {
					return failWaiting(StepWait, ctx.Err())
				}
				p.Logger.Warn("withdrawal: restore procedure: reading the ingested record time failed, retrying", "err", ingest.Redact(err.Error()))
				ingested = seen // not a move: the last one read stands
			} else if times, lastTx = read.RecordTimes, read.UpdateID; ingested.After(rep.TSafe) {
				if unresolved, err = s.unresolvedReview(ctx); err != nil {
					if ctx.Err() != nil {
						return failWaiting(StepWait, ctx.Err())
					}
					p.Logger.Warn("withdrawal: restore procedure: counting the transactions set aside for review failed, retrying", "err", ingest.Redact(err.Error()))
				} else if unresolved == 0 {
					break
				}
			}
			rep.Waited = time.Since(start)
			now := time.Now()
			// A transaction ingested at the record time waited on is a
			// move too: thousands may share one record time, and
			// ingesting them takes a while.
			atTx := lastTx != readBefore && !read.RecordTime.IsZero()
			if !ingested.Equal(seen) || (atTx && read.RecordTime.Equal(ingested)) {
				seen, movedAt = ingested, now
			}
			clock := s.clock(times, "")
			if !clock.Equal(clockSeen) || (atTx && read.RecordTime.Equal(clock)) {
				clockSeen, clockMovedAt = clock, now
			}
			pr := RestoreProgress{Step: StepWait, Ingested: ingested, Waited: rep.Waited,
				Message: fmt.Sprintf("ingested record time %s, tSafe %s", fmtTime(ingested), rep.TSafe.Format(time.RFC3339Nano))}
			still := time.Since(movedAt)
			if still >= time.Second {
				still = still.Round(time.Second)
			} else {
				still = still.Round(time.Millisecond)
			}
			stuck := !ingested.After(rep.TSafe) && p.StillAfter > 0 && still >= p.StillAfter
			// The synchronizers of rep.Synchronizers that hold the gate
			// closed while ingestion runs: the store's clock is past tSafe,
			// or, before it, moves (it moved within StillAfter, and since the
			// ingested record time, one of theirs, last did).
			past := clock.After(rep.TSafe)
			var behind []string
			if past || (stuck && !clock.IsZero() && clockMovedAt.After(movedAt) && now.Sub(clockMovedAt) < p.StillAfter) {
				for _, sync := range rep.Synchronizers {
					if st := times[sync]; st.IsZero() {
						behind = append(behind, sync+" (no record time ingested)")
					} else if !st.After(rep.TSafe) && (past || st.Before(clock)) {
						behind = append(behind, sync+" at "+st.Format(time.RFC3339Nano))
					}
				}
			}
			if len(behind) > 0 && past {
				pr.Message += fmt.Sprintf("; the store's clock %s is past tSafe, but not the synchronizers withdrawals in flight or recovered name: %s",
					clock.Format(time.RFC3339Nano), strings.Join(behind, ", "))
			} else if len(behind) > 0 {
				pr.Message += fmt.Sprintf("; the store's clock %s moves, but not the synchronizers withdrawals in flight or recovered name: %s",
					clock.Format(time.RFC3339Nano), strings.Join(behind, ", "))
			}
			if stuck && len(behind) > 0 {
				pr.Message += fmt.Sprintf("; not moved for %s: one the participant is no longer connected to, or that a request names wrongly, "+
					"keeps the gate closed for good (once no transfer can still commit there, cancel the procedure and open the gate with "+
					"Store.EnableAfter; see RestoreProcedure)", still)
			} else if stuck {
				// A participant's offset checkpoints move it while the
				// treasury is idle: standing still, ingestion is most likely
				// stopped.
				pr.Message += fmt.Sprintf("; it has not moved for %s: is ingestion running? (an Ingester stopped with "+
					"ErrParticipantRestored needs the validator node runbook, one stopped with ErrPruned an Integration DB backup "+
					"the participant has not pruned past, one stopped by a handler (a RecoveryHook's error, an anomaly) the cause its error names; "+
					"see docs/OPERATIONS.md)", still)
			}
			if unresolved > 0 {
				pr.Message += fmt.Sprintf("; %d transactions set aside for review are unresolved: one may be the transfer of a withdrawal lost in the restore, "+
					"so the gate stays closed until they are resolved (review_transaction.resolved_at)", unresolved)
			}
			if time.Since(lastLog) >= p.ReportInterval {
				lastLog = time.Now()
				if stuck && len(behind) > 0 {
					p.Logger.Warn("withdrawal: restore procedure: still waiting for tSafe on synchronizers whose record time has not moved: is the participant still connected to them?",
						"tsafe", rep.TSafe, "synchronizers_behind", behind, "not_moved_for", still, "waited", rep.Waited.Round(time.Millisecond))
				} else if stuck {
					p.Logger.Warn("withdrawal: restore procedure: still waiting for tSafe, and the ingested record time has not moved: is ingestion running?",
						logattr.Known("tsafe", rep.TSafe, "ingested_record_time", ingested, "not_moved_for", still,
							"waited", rep.Waited.Round(time.Millisecond))...)
				} else {
					p.Logger.Info("withdrawal: restore procedure: still waiting for tSafe",
						logattr.Known("tsafe", rep.TSafe, "ingested_record_time", ingested,
							"waited", rep.Waited.Round(time.Millisecond))...)
				}
			}
			if p.Progress != nil {
				pr.TSafe = rep.TSafe
				p.Progress(pr)
			}
			select {
			case <-ctx.Done():
				return failWaiting(StepWait, ctx.Err())
			case <-time.After(p.PollInterval):
			}
		}
		rep.Waited = time.Since(start)
		report(RestoreProgress{Step: StepWait, Done: true, Ingested: ingested, Waited: rep.Waited,
			Message: fmt.Sprintf("ingested record time %s is after tSafe (waited %s)", ingested.Format(time.RFC3339Nano), rep.Waited.Round(time.Millisecond))})

		// 4. Enable.
		waitStep = StepEnable
		report(RestoreProgress{Step: StepEnable, Ingested: ingested, Message: "opening the withdrawal gate"})
		reason := fmt.Sprintf("%s: step 4, ingested record time past tSafe %s", p.Reason, rep.TSafe.Format(time.RFC3339Nano))
		opened, at, enabledAt, err := s.enableAfterUnchanged(ctx, rep.TSafe, closedAt, rep.Synchronizers, rep.DisabledAt, reason)
		if err != nil {
			// Perhaps over a database restored again, from a backup older
			// than this release's migrations (the opening refuses its
			// schema before it sees the gate gone back), whose gate is
			// open: close it again. Not over a change of someone else's
			// since step 2 (an operator who opened it by hand): leave it
			// as they set it. Nor over the opening itself, committed
			// though its reply was lost (a connection dropped at its
			// COMMIT): the gate's last change is then this opening, with
			// its reason and tSafe, and the procedure has done its work.
			err = ctxEnded(err)
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			g, gerr := s.Gate(gctx)
			var last *GateChange
			if gerr == nil && g.Enabled && g.ChangedAt.After(closedAt) && g.Reason == reason {
				last, gerr = s.lastGateChange(gctx)
			}
			cancel()
			if last != nil && last.Enabled && last.ChangedAt.Equal(g.ChangedAt) && last.Reason == reason && last.TSafe.Equal(rep.TSafe) {
				p.Logger.Warn("withdrawal: restore procedure: the opening of the gate committed, though its reply was lost",
					"err", ingest.Redact(err.Error()), "enabled_at", last.ChangedAt)
				rep.Ingested, rep.EnabledAt = last.IngestedRecordTime, last.ChangedAt
				break
			}
			if gerr == nil && g.ChangedAt.After(closedAt) {
				return failed(StepEnable, err)
			}
			return closeAgain(StepEnable, err)
		}
		if opened {
			rep.Ingested, rep.EnabledAt = at, enabledAt
			break
		}
		g, err := s.Gate(ctx)
		if err != nil {
			return failWaiting(StepEnable, err)
		}
		if restoredAgain(g) {
			if err := closeRestored(StepEnable, true); err != nil {
				return failOpen(StepEnable, err)
			}
		} else if !g.ChangedAt.Equal(closedAt) {
			state := "closed"
			if g.Enabled {
				state = "opened"
			}
			return fail(StepEnable, fmt.Errorf("the gate was %s again at %s (%q) after step 2 closed it: not opening it over that change; "+
				"once it is over, open it with Store.EnableAfter(ctx, tSafe %s, reason), which still checks the ingested record time",
				state, g.ChangedAt.Format(time.RFC3339Nano), g.Reason, rep.TSafe.Format(time.RFC3339Nano)))
		}
		// The ingested record time read under the gate's lock is no longer
		// past tSafe (the checkpoint went back since step 3: a rewind, or
		// the database restored again), or a transaction was set aside
		// meanwhile: wait again, as in step 3.
		p.Logger.Warn("withdrawal: restore procedure: the ingested record time is no longer after tSafe, or a transaction set aside for review is unresolved; waiting again", logattr.Known("ingested_record_time", at)...)
		select {
		case <-ctx.Done():
			return failWaiting(StepEnable, ctx.Err())
		case <-time.After(p.PollInterval):
		}
	}
	// Nothing after the opening can fail: the gate is open. The locks go
	// before the report (Progress may take a while), so that Create and
	// the Automation go on at once.
	settled = true
	release()
	report(RestoreProgress{Step: StepEnable, Done: true, Ingested: rep.Ingested,
		Message: fmt.Sprintf("gate open at ingested record time %s: withdrawals are enabled, the automation resumes", rep.Ingested.Format(time.RFC3339Nano))})
	return rep, nil
}

// recordRestoredAttempts records an attempt for every requested
// withdrawal with none (as migration 008 does): restored from a backup,
// one may have been handed to the Submitter after the backup was taken,
// its attempt lost with the restore, and MarkFailed then refuses it
// (ErrSubmitAttempted) until the ledger's outcome or its expiry ends it.
func (s *Store) recordRestoredAttempts(ctx context.Context) error {
	if err := s.inTx(ctx, "", func(tx *sqlx.Tx) error {
		if err := s.checkSchema(ctx, tx, "recording the restored requests as attempted"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE `+s.withdrawals+` SET submit_attempted_at = now()
			WHERE status = $1 AND submit_attempted_at IS NULL`, string(StatusRequested))
		return err
	}); err != nil {
		return fmt.Errorf("withdrawal: recording the restored requests as attempted: %w", err)
	}
	return nil
}

// addSynchronizers adds those of syncs not listed yet to r.Synchronizers,
// kept sorted, and reports whether it added one.
func (r *RestoreReport) addSynchronizers(syncs ...string) bool {
	added := false
	for _, sync := range syncs {
		if sync != "" && !slices.Contains(r.Synchronizers, sync) {
			r.Synchronizers, added = append(r.Synchronizers, sync), true
		}
	}
	slices.Sort(r.Synchronizers)
	return added
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "(nothing ingested)"
	}
	return t.Format(time.RFC3339Nano)
}
