package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/jmoiron/sqlx"
)

// narrateEvery is how often Runbook prints a line while it waits.
const narrateEvery = 10 * time.Second

// Runbook runs the validator node restore runbook step by step against the
// restored participant and writes each step's result to Out, for an
// operator command (see examples/runbook). Steps 3 (restoring the node) and
// 7 (restarting ingestion) are the operator's; the others are checks and
// computations, and step 6 writes only when Apply is set.
type Runbook struct {
	DB          *sqlx.DB
	Participant Participant
	Options     Options
	// PackagesSince, if set, is the time of the backup: step 4 lists the
	// packages used by the transactions ingested since (see Packages),
	// within Options.Timeout.
	PackagesSince time.Time
	// Apply makes step 6 rewrite the checkpoint. False: a dry run that
	// prints what it would write.
	Apply bool
	// Out receives the narration. Nil: io.Discard.
	Out io.Writer
}

// Run runs the steps in order and returns the rewind planned in step 5
// (applied if rb.Apply). It stops at the first step that fails, with that
// step's error.
func (rb *Runbook) Run(ctx context.Context) (_ *Rewind, err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	if rb.DB == nil || rb.Participant == nil || nilcheck.Holds(rb.Participant) {
		return nil, errors.New("recovery: Runbook: nil database or participant")
	}
	out := rb.Out
	if out == nil {
		out = io.Discard
	}
	opts := rb.Options.WithDefaults()
	if err := opts.validate(); err != nil {
		// Before step 1: an operator should not wait through steps 1-4 to
		// learn that the options are wrong.
		return nil, err
	}
	step := func(n int, format string, args ...any) {
		fmt.Fprintf(out, "Step %d. %s\n", n, fmt.Sprintf(format, args...))
	}
	detail := func(format string, args ...any) {
		fmt.Fprintf(out, "         %s\n", fmt.Sprintf(format, args...))
	}

	step(1, "Stop Tx History Ingestion.")
	if err := CheckStopped(ctx, rb.DB, opts.Schema); err != nil {
		detail("FAILED: %v", err)
		return nil, err
	}
	detail("ok: no ingester holds the ingestion lock of schema %s.", opts.Schema)

	step(2, "Read tRecovery and the synchronizer id of the last ingested transaction.")
	cps, err := checkpoint.NewStore(opts.Schema)
	if err != nil {
		return nil, err
	}
	cp, found, err := cps.Get(ctx, rb.DB)
	if err != nil {
		detail("FAILED: %v", err)
		return nil, err
	}
	if !found || cp.UpdateID == "" {
		err := nothingIngested(opts.Schema, cp.Offset)
		detail("FAILED: %v", err)
		return nil, err
	}
	detail("tRecovery %s, synchronizer %s, update %s, checkpoint offset %d.",
		cp.RecordTime.Format(time.RFC3339Nano), cp.SynchronizerID, cp.UpdateID, cp.Offset)

	step(3, "Restore the validator node from the backup.")
	detail("done by the operator before this command; the next steps talk to the restored node.")

	step(4, "Re-upload the .dar files uploaded after the backup.")
	if rb.PackagesSince.IsZero() {
		detail("not listed here (no backup time given): list the packages used since the backup with Packages, best before restoring the node.")
	} else {
		// Bounded as the wait of step 5 is: a participant that accepts
		// the look-ups and never answers must not hold the runbook.
		pctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		rep, err := Packages(pctx, rb.DB, rb.Participant, rb.PackagesSince, PackageOptions{Schema: opts.Schema, Parties: opts.Parties})
		timedOut := pctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil {
			if timedOut {
				err = fmt.Errorf("recovery: step 4: the participant did not answer the look-ups of the transactions ingested since %s within Options.Timeout (%s): %w",
					rb.PackagesSince.Format(time.RFC3339Nano), opts.Timeout, err)
			}
			detail("FAILED: %v", err)
			return nil, err
		}
		detail("%d transactions ingested since %s use %d package(s); upload again the .dar files of those the node no longer has:",
			rep.Transactions, rep.Since.Format(time.RFC3339Nano), len(rep.Packages))
		for _, p := range rep.Packages {
			detail("  %s %s (first used %s, %d transactions): %v",
				p.PackageID, p.PackageName, p.FirstSeen.Format(time.RFC3339Nano), p.Transactions, p.Templates)
		}
		if len(rep.Missing) > 0 {
			detail("  %d transactions are not visible on the participant yet, their packages are not listed (first: %s):", len(rep.Missing), rep.Missing[0])
			detail("  list them before restoring the node, or again once it has caught up.")
		}
		detail("  %s", rep.Coverage())
	}

	step(5, "Find offRecovery (%s mode), once the participant has processed tRecovery.", opts.Mode)
	progress := opts.Progress
	var narrated time.Duration
	opts.Progress = func(p Progress) {
		// One line at first, then one every narrateEvery.
		if p.Attempt == 1 || p.Waited-narrated >= narrateEvery {
			narrated = p.Waited
			end := "unknown"
			if p.LedgerEnd >= 0 {
				end = fmt.Sprint(p.LedgerEnd)
			}
			detail("waiting (%s, ledger end %s): %v", p.Waited.Round(time.Millisecond), end, p.Reason)
		}
		if progress != nil {
			progress(p)
		}
	}
	rw, err := Plan(ctx, rb.DB, rb.Participant, opts)
	if err != nil {
		detail("FAILED: %v", err)
		if errors.Is(err, ErrRecordTimeNotUnique) {
			detail("run again in %s mode.", ModeNonUnique)
		}
		return nil, err
	}
	for _, l := range rw.Lookups {
		detail("%s: %s", rw.AdminAPI.label(), l)
	}
	switch {
	case rw.Restored():
		detail("the participant has update %s at offset %d, it was ingested at offset %d: offsets changed, the node was restored.",
			rw.LastUpdateID, rw.ParticipantOffset, rw.IngestedOffset)
	case rw.IngestedOffset == 0:
		detail("the participant has update %s at offset %d (its ingestion offset is no longer recorded).", rw.LastUpdateID, rw.ParticipantOffset)
	default:
		detail("note: the participant still has update %s at offset %d, where it was ingested: the offsets up to it are unchanged (the node was not restored, or from a backup taken after it); those after it may have changed, which the rewind takes care of.",
			rw.LastUpdateID, rw.ParticipantOffset)
	}
	if f := rw.belowFirst(); f != "" {
		detail("%s.", f)
	}
	if l := rw.lowered(); l != "" {
		detail("%s: a transaction of that synchronizer the restored node numbered below the answer is not skipped.", l)
	}
	if u := rw.unknown(); u != "" {
		detail("%s.", u)
	}
	if rw.PrunedUpTo != 0 {
		detail("the participant is pruned up to offset %d, above %s: it cannot stream from below it, and what lies at or below it was ingested. offRecovery raised to it.", rw.PrunedUpTo, rw.raisedFrom())
	}
	detail("offRecovery = %d (waited %s).", rw.To, rw.Waited.Round(time.Millisecond))
	for _, o := range rw.OtherSynchronizers {
		detail("warning: synchronizer %s (ingested to record time %s) is looked up, so that offRecovery lies below what came after it, but not rewound: a transaction of the treasury on it ingested before that the node's new offsets place after the last ingested transaction stops ingestion with ErrParticipantRestored (the recovery package's Limits).",
			o.SynchronizerID, o.RecordTime.UTC().Format(time.RFC3339Nano))
	}
	if _, ok := rb.Participant.(synchronizerLister); ok {
		// The one check Plan leaves to the operator (the package's
		// Limits): it saw only the synchronizers the participant had
		// reconnected to.
		ids := append([]string{rw.SynchronizerID}, rw.otherIDs()...)
		ids = append(ids, unknownIDs(rw)...)
		detail("before applying, check that participant.synchronizers.list_connected() in the participant's console lists no synchronizer but %s: this run saw only those the participant had reconnected to, and one it had not is missed, its transactions numbered below offRecovery skipped; if one is missing, wait until the participant has reconnected to it and run the runbook again (the recovery package's Limits).",
			strings.Join(ids, ", "))
	}

	step(6, "Configure Tx History Ingestion to start from offRecovery.")
	if !rb.Apply {
		detail("dry run: would move the checkpoint from offset %d to %d. Run again with apply (-yes) to write it.", rw.From, rw.To)
		return rw, nil
	}
	if err := Apply(ctx, rb.DB, rw); err != nil {
		detail("FAILED: %v", err)
		return nil, err
	}
	recs, err := cps.Rewinds(ctx, rb.DB)
	if err == nil && len(recs) > 0 {
		last := recs[len(recs)-1]
		detail("done: checkpoint moved from offset %d to %d at %s (audit row %d).", last.From, last.To, last.RewoundAt.Format(time.RFC3339), last.ID)
	} else {
		detail("done: checkpoint moved from offset %d to %d.", rw.From, rw.To)
	}

	step(7, "Restart Tx History Ingestion.")
	if rw.Mode == ModeNonUnique {
		detail("it resumes after offset %d; update-id dedup drops the transactions at tRecovery that were ingested before.", rw.To)
	} else {
		detail("it resumes after offset %d.", rw.To)
	}
	return rw, nil
}
