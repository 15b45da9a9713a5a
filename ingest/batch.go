package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ErrParticipantRestored means the participant's history no longer matches
// the checkpoint: offsets were reassigned by a restore of the validator node
// from a backup. Ingestion stops without writing anything; run the validator
// node restore runbook (package recovery) before starting again.
var ErrParticipantRestored = errors.New("ingest: participant was restored from a backup (offsets changed): run the validator node restore runbook")

// RestoredError gives the evidence for ErrParticipantRestored.
type RestoredError struct {
	Offset         int64  // the checkpoint offset, or the offending update's offset
	UpdateID       string // the offending or looked-up update
	SynchronizerID string
	Reason         string
}

func (e *RestoredError) Error() string {
	if e.UpdateID == "" { // nothing ingested yet, only OffsetCheckpoints
		return fmt.Sprintf("%v: %s (offset %d)", ErrParticipantRestored, e.Reason, e.Offset)
	}
	return fmt.Sprintf("%v: %s (offset %d, update %s)", ErrParticipantRestored, e.Reason, e.Offset, e.UpdateID)
}

// Is matches ErrParticipantRestored.
func (e *RestoredError) Is(target error) bool { return target == ErrParticipantRestored }

// builder accumulates one batch.
type builder struct {
	prev     checkpoint.Checkpoint
	cp       checkpoint.Checkpoint
	txs      []*ledger.Transaction
	prepared map[*ledger.Transaction]any // the Handler's Prepare results
	cps      []*ledger.OffsetCheckpoint
	behind   map[*ledger.Transaction]*RestoredError // record time behind its synchronizer's, in a replay
	// replayUntil is the update id of the last transaction ingested before
	// a rewind while the replay after it has not reached it again (see
	// Ingester.replayUntil); "" otherwise.
	replayUntil   string
	poison        []poisonItem
	sawCheckpoint bool // the last item added was an OffsetCheckpoint
	touched       bool
	bytes         int // the updates' sizes as they arrived (byteBudget)
	// skipped is how many of txs dedup dropped in the last attempt that
	// reached COMMIT, and notes the transactions it set aside: what Stats
	// counts and the log reports when a retry finds that it committed
	// though its reply was lost (a retry's own claim then finds every id).
	// Not the first claim's: an attempt rolled back (a pipelined early
	// start) may have claimed an id that the committed one found taken.
	skipped int
	notes   []asideNote
	// begun is when the last attempt at the batch began (start): for a
	// batch committed again after a failed attempt, where its latency
	// counts from.
	begun time.Time
}

func newBuilder(committed checkpoint.Checkpoint, replayUntil string) *builder {
	return &builder{prev: committed, cp: committed.Clone(), replayUntil: replayUntil}
}

func (b *builder) empty() bool { return !b.touched }

// idle reports whether b holds only OffsetCheckpoints that change nothing:
// the offset and every record time as the batch before left them. Canton
// sends an idle stream such a checkpoint, repeating the offset it is at
// (begin_exclusive, or the last transaction's). It is not committed: it
// would cost an SQL transaction per idle stream, and a retry after its
// COMMIT's reply was lost could not tell that it had committed, and would
// hand the Handler its checkpoints twice.
func (b *builder) idle() bool {
	return b.touched && len(b.txs) == 0 && len(b.poison) == 0 && b.cp.Offset == b.prev.Offset &&
		b.cp.UpdateID == b.prev.UpdateID && b.replayUntil == "" &&
		maps.EqualFunc(b.cp.RecordTimes, b.prev.RecordTimes, time.Time.Equal)
}

// add adds u; prep is what the Handler's Prepare returned for it, if anything.
func (b *builder) add(u ledger.Update, prep any) error {
	switch u.Kind {
	case ledger.UpdateTransaction:
		tx := u.Transaction
		if tx.Offset <= b.cp.Offset {
			return &ledger.DecodeError{Offset: tx.Offset, UpdateID: tx.UpdateID, NodeID: -1,
				Err: fmt.Errorf("offset %d is not after the checkpoint offset %d", tx.Offset, b.cp.Offset)}
		}
		if tx.SynchronizerID == "" {
			return &ledger.DecodeError{Offset: tx.Offset, UpdateID: tx.UpdateID, NodeID: -1, Err: errors.New("transaction has no synchronizer id")}
		}
		if reached, ok := b.cp.RecordTimes[tx.SynchronizerID]; ok && goesBack(tx.RecordTime, reached) {
			re := &RestoredError{Offset: tx.Offset, UpdateID: tx.UpdateID, SynchronizerID: tx.SynchronizerID,
				Reason: fmt.Sprintf("record time %s goes back before the ingested %s on synchronizer %s",
					tx.RecordTime.Format(time.RFC3339Nano), reached.Format(time.RFC3339Nano), tx.SynchronizerID)}
			if b.replayUntil == "" {
				return re
			}
			// In the replay after a rewind, up to the last transaction
			// ingested before it: the runbook rewound the record time of
			// one synchronizer, and the others' transactions ingested
			// before come again. A restore, unless dedup knows it (start
			// decides).
			if b.behind == nil {
				b.behind = map[*ledger.Transaction]*RestoredError{}
			}
			b.behind[tx] = re
		}
		if tx.UpdateID == b.replayUntil ||
			(b.replayUntil != "" && tx.SynchronizerID == b.cp.SynchronizerID && tx.RecordTime.After(b.cp.RecordTime)) {
			// The replay is through: the last transaction ingested before
			// the rewind came again, or one of its synchronizer after it.
			b.replayUntil = ""
		}
		b.txs = append(b.txs, tx)
		if prep != nil {
			if b.prepared == nil {
				b.prepared = map[*ledger.Transaction]any{}
			}
			b.prepared[tx] = prep
		}
		b.cp.Offset = tx.Offset
		if b.replayUntil == "" {
			b.cp.UpdateID, b.cp.RecordTime, b.cp.SynchronizerID, b.cp.UpdateOffset = tx.UpdateID, tx.RecordTime, tx.SynchronizerID, tx.Offset
		}
		// Else, in the replay after a rewind, the checkpoint keeps naming
		// the last transaction ingested before it, with its offset unknown:
		// a process restarted in the middle of the replay resumes it (and
		// the runbook run again plans the same rewind).
		b.raise(tx.SynchronizerID, tx.RecordTime)
		b.sawCheckpoint = false
	case ledger.UpdateCheckpoint:
		c := u.Checkpoint
		if c.Offset < b.cp.Offset {
			return &ledger.DecodeError{Offset: c.Offset, NodeID: -1,
				Err: fmt.Errorf("offset checkpoint %d is before the checkpoint offset %d", c.Offset, b.cp.Offset)}
		}
		b.cps = append(b.cps, c)
		b.cp.Offset = c.Offset
		for _, st := range c.SynchronizerTimes {
			b.raise(st.SynchronizerID, st.RecordTime)
		}
		b.sawCheckpoint = true
	default:
		return nil
	}
	b.touched = true
	return nil
}

func (b *builder) raise(sync string, t time.Time) {
	if cur, ok := b.cp.RecordTimes[sync]; !ok || t.After(cur) {
		b.cp.RecordTimes[sync] = t
	}
}

// commit writes one batch: dedup rows, the handler's effects and the new
// checkpoint, in one SQL transaction, retrying transient database faults.
// prior is the error of an attempt at b already made (the pipeline's own),
// or nil; MaxAttempts counts it if it is such a fault. A prior rejection by
// the Handler hands b over one transaction at a time at once; a prior
// retryable ledger error of the Handler is returned, for Run to retry.
// Under PoisonHalt a batch the Handler rejects whole but whose every
// transaction it takes alone is handed over whole once more before Run
// stops with its error.
func (ing *Ingester) commit(ctx context.Context, b *builder, prior error) (err error) {
	start := time.Now()
	if prior != nil && !b.begun.IsZero() {
		// Stats.LastBatchLatency includes the retries: the failed attempt
		// (the pipeline's) too, from when it began.
		start = b.begun
	}
	// Stats.State is "retrying" while the batch backs off (below), and
	// "streaming" again once it committed.
	backedOff := false
	defer func() {
		if backedOff && err == nil {
			ing.stats.setState(StateStreaming)
		}
	}()
	attempt := 0
	split := false
	// unknown says that an attempt's COMMIT failed with a transient fault:
	// it may have committed.
	unknown := errors.As(prior, new(*commitFailed))
	if errors.Is(prior, errHandlerEndedTx) {
		return prior
	}
	if errors.Is(prior, ErrPoolExhausted) {
		// The pipeline's start of b waited out Config.LockCheck already:
		// not retried (ErrPoolExhausted), nor waited out again.
		return prior
	}
	if IsTransientDBError(prior) {
		attempt = 1
		if ing.cfg.MaxAttempts > 0 && attempt >= ing.cfg.MaxAttempts {
			return gaveUp{fmt.Errorf("ingest: giving up on batch (offsets %d..%d) after %d attempts: %w", b.prev.Offset, b.cp.Offset, attempt, prior)}
		}
		split = ing.splitAfter(b, prior)
	}
	if !IsTransientDBError(prior) && transientHandlerError(prior) {
		// The Handler's retryable ledger error: Run retries it (counted,
		// with backoff), as it does one met below.
		return prior
	}
	// wholeAgain says that the Handler rejected b whole but took each of
	// its transactions alone: b goes to it whole once more (the rejection
	// may have been a fluke), and a second rejection stops Run.
	// eachAlone says that it took each of two or more alone, for the
	// error of that second rejection, which names no transaction.
	wholeAgain, eachAlone := false, false
	if errors.As(prior, new(*handlerError)) && !transientHandlerError(prior) && ctx.Err() == nil {
		// The Handler rejected b already (the pipeline's attempt): hand it
		// over one transaction at a time straight away, not whole again.
		if ing.cfg.Poison != PoisonSetAside {
			err, alone := ing.locate(ctx, b, prior)
			if err != prior {
				return err
			}
			wholeAgain, eachAlone = true, alone
		} else {
			split = true
		}
	}
	for {
		if attempt > 0 && b.cp.Offset == b.prev.Offset {
			// An attempt before may have committed with its reply lost. A
			// batch that does not move the offset meets no conflict on its
			// retry: only the stored record times tell. A read that
			// cannot tell is left to the attempt below, but not one that
			// waited out Config.LockCheck already (ErrPoolExhausted, not
			// retried, nor waited out again).
			ours, err := ing.committedBefore(ctx, b)
			if errors.Is(err, ErrPoolExhausted) {
				return err
			}
			if err == nil && ours {
				ing.committed(b, b.skipped, time.Since(start))
				ing.noteSetAside(b.notes)
				return nil
			}
		}
		skipped, err := ing.commitOnce(ctx, b, split)
		if errors.Is(err, errHandlerEndedTx) {
			return err
		}
		var he *handlerError
		if errors.As(err, &he) && !transientHandlerError(err) && !split && ctx.Err() == nil {
			if ing.cfg.Poison == PoisonSetAside {
				// Find the transactions the handler rejects and set them aside.
				split = true
				continue
			}
			if wholeAgain {
				if eachAlone {
					return &handlerError{fmt.Errorf("%w (the handler took each of its transactions alone, handed over one at a time in a transaction rolled back: it rejects them only together)", err)}
				}
				return err
			}
			// Name the transaction in the error (a database's refusal
			// names none).
			lerr, alone := ing.locate(ctx, b, err)
			if lerr != err {
				return lerr
			}
			wholeAgain, eachAlone = true, alone
			continue
		}
		if err == nil {
			ing.committed(b, skipped, time.Since(start))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt > 0 && errors.Is(err, checkpoint.ErrConflict) {
			ours, gerr := ing.committedBefore(ctx, b)
			if ours {
				// The attempt before committed on the server; its reply was lost.
				ing.committed(b, b.skipped, time.Since(start))
				ing.noteSetAside(b.notes)
				return nil
			}
			if gerr != nil {
				err = gerr // cannot tell yet: a database fault like any other
			}
		}
		if !IsTransientDBError(err) {
			return err
		}
		attempt++
		ing.stats.errorOf(err)
		split = split || ing.splitAfter(b, err)
		unknown = unknown || errors.As(err, new(*commitFailed))
		if ing.cfg.MaxAttempts > 0 && attempt >= ing.cfg.MaxAttempts {
			return gaveUp{fmt.Errorf("ingest: giving up on batch (offsets %d..%d) after %d attempts: %w", b.prev.Offset, b.cp.Offset, attempt, err)}
		}
		wait := ing.backoff(attempt)
		backedOff = true
		ing.stats.setState(StateRetrying)
		ing.log.Warn("ingest: database fault, retrying batch", "from_offset", b.prev.Offset, "to_offset", b.cp.Offset, "attempt", attempt, "in", wait, "err", redactErr(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ing.stopCh:
			// Stop while the database refuses the batch: it is not
			// committed, and the next Run streams it again; unless the
			// reply to an attempt's COMMIT was lost.
			if unknown {
				ing.log.Warn("ingest: stopped while the database is unreachable after a COMMIT of the batch whose reply was lost: the batch may have committed; the next run resumes from what the database holds",
					"from_offset", b.prev.Offset, "to_offset", b.cp.Offset, "err", redactErr(err))
				return errStopped
			}
			ing.log.Warn("ingest: stopped before the batch could commit; the next run ingests it again", "from_offset", b.prev.Offset, "to_offset", b.cp.Offset, "err", redactErr(err))
			return errStopped
		case <-time.After(wait):
		}
	}
}

// splitAfter says whether the retry of b after err, a transient fault,
// hands b to the Handler one transaction at a time (handleSplit): under
// PoisonSetAside, after a Handler's statement cancelled by
// statement_timeout, which a batch whose work grows with its size meets on
// every retry while each of its transactions alone may fit. A transaction
// that times out alone is a transient fault there too: it is retried,
// never set aside.
func (ing *Ingester) splitAfter(b *builder, err error) bool {
	var pqe *pq.Error
	var he *handlerError
	return ing.cfg.Poison == PoisonSetAside && ing.cfg.Handler != nil && len(b.txs) > 1 &&
		errors.As(err, &he) && errors.As(err, &pqe) && pqe.Code == "57014"
}

// committedBefore reports whether the stored checkpoint is b's: an attempt
// at b whose COMMIT reached the server but whose reply was lost with the
// connection committed it.
func (ing *Ingester) committedBefore(ctx context.Context, b *builder) (bool, error) {
	// A read beside the lock: it waits for a pool connection as the
	// batch's start does, ErrPoolExhausted included.
	err := ing.awaitPoolConn(ctx)
	var cp checkpoint.Checkpoint
	var found bool
	if err == nil {
		cp, found, err = ing.cps.Get(ctx, ing.db)
	}
	if err != nil {
		return false, fmt.Errorf("ingest: read the checkpoint after a conflict on batch (offsets %d..%d): %w", b.prev.Offset, b.cp.Offset, err)
	}
	if !found || cp.Offset != b.cp.Offset || cp.UpdateID != b.cp.UpdateID {
		return false, nil
	}
	if b.cp.Offset != b.prev.Offset {
		return true, nil
	}
	// The offset did not move (OffsetCheckpoints at the committed offset):
	// b is committed if the record times it raised are stored.
	if sameTimes(b.cp.RecordTimes, b.prev.RecordTimes) {
		return false, nil
	}
	return sameTimes(cp.RecordTimes, b.cp.RecordTimes), nil
}

// goesBack reports whether record time t is before reached, compared as
// PostgreSQL stores them (see sameTimes): a time reached is read back from
// the checkpoint rounded to the microsecond, possibly up, and a later time
// of the same microsecond must not seem to go back before it after a
// restart. (PostgreSQL rounding a half down where Go rounds it up only
// makes the stored time earlier.)
func goesBack(t, reached time.Time) bool {
	return t.Round(time.Microsecond).Before(reached.Round(time.Microsecond))
}

// sameTimes compares record times as PostgreSQL stores them: rounded to
// the nearest microsecond (not truncated), so that a time remembered with
// nanoseconds matches what its commit stored. At exactly half a
// microsecond PostgreSQL may round down where Go rounds up: a commit is
// then not recognised and runs again (its checkpoints' effects twice),
// but since record times only rise, a batch that did not commit is never
// taken for committed.
func sameTimes(a, b map[string]time.Time) bool {
	return maps.EqualFunc(a, b, func(x, y time.Time) bool {
		return x.Round(time.Microsecond).Equal(y.Round(time.Microsecond))
	})
}

// committed records that b committed: the checkpoint, the stats, OnCommit.
func (ing *Ingester) committed(b *builder, skipped int, took time.Duration) {
	ing.cp, ing.replayUntil = b.cp, b.replayUntil
	ing.stats.committed(b, skipped, took)
	if ing.cfg.OnCommit != nil {
		ing.cfg.OnCommit(ing.stats.snapshot())
	}
}

// commitFailed marks an error of COMMIT itself: with a lost connection,
// the batch may have committed on the server.
type commitFailed struct{ err error }

func (e *commitFailed) Error() string { return e.err.Error() }
func (e *commitFailed) Unwrap() error { return e.err }

// ErrHandlerRejected matches (errors.Is) an error Run stops with because
// the Handler rejected a transaction, or a batch whole, for good (a
// panic of the Handler's too, which also matches ErrHandlerPanicked):
// under PoisonHalt, the error names the transaction (its offset and update
// id) when the Handler rejects one alone. An error of the Handler's that Run
// retries (a database fault) does not stop Run. A fault of the deployment
// (ErrDeploymentFault: a table or grant missing, a credential refused)
// matches too, under PoisonSetAside as well: Run sets no transaction
// aside for it. A transaction that could not be decoded stops Run with a
// *ledger.DecodeError instead.
var ErrHandlerRejected = errors.New("ingest: the handler rejected the batch")

// handlerError marks a batch that the Handler rejected.
type handlerError struct{ err error }

func (e *handlerError) Error() string        { return e.err.Error() }
func (e *handlerError) Unwrap() error        { return e.err }
func (e *handlerError) Is(target error) bool { return target == ErrHandlerRejected }

func (ing *Ingester) commitOnce(ctx context.Context, b *builder, split bool) (skipped int, err error) {
	st, err := ing.start(ctx, b, false, split)
	if err != nil {
		return 0, err
	}
	return st.batch.Skipped, ing.finish(ctx, st, split)
}

// started is a batch whose SQL transaction is open with its first part
// done: the dedup claim and the Handler's reads.
type started struct {
	b     *builder
	tx    *sqlx.Tx
	batch *Batch
	begun time.Time
}

// start opens b's SQL transaction, claims its update ids and lets the
// Handler read (Reader). early says that the batch before it may not have
// committed yet (pipeline.go). split says that the Handler will see the
// batch one transaction at a time (handleSplit): it is not read then, so
// that a transaction ReadBatch rejects is set aside as HandleBatch's
// rejections are, instead of failing the batch again.
func (ing *Ingester) start(ctx context.Context, b *builder, early, split bool) (st *started, err error) {
	begun := time.Now()
	b.begun = begun
	if err := ing.awaitPoolConn(ctx); err != nil {
		return nil, fmt.Errorf("ingest: begin batch (offsets %d..%d): %w", b.prev.Offset, b.cp.Offset, err)
	}
	// READ COMMITTED whatever the database's default: a batch begun before
	// the one before it commits must see that commit once it has.
	tx, err := ing.db.BeginTxx(ctx, readCommitted)
	if err != nil {
		return nil, fmt.Errorf("ingest: begin batch (offsets %d..%d): %w", b.prev.Offset, b.cp.Offset, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	// Every batch: a newer release may migrate the schema while this one
	// runs (a rolling upgrade). Its migration waits for this batch, and a
	// batch after it stops Run.
	if err := schema.CheckCurrentTx(ctx, tx, schema.WithSchema(ing.cfg.Schema)); err != nil {
		return nil, fmt.Errorf("ingest: batch (offsets %d..%d): %w", b.prev.Offset, b.cp.Offset, err)
	}
	if early {
		// tx waits, idle, for the batch before to commit: an
		// idle_in_transaction_session_timeout of the role or database
		// would end its session. Off for tx only.
		if _, err := tx.ExecContext(ctx, `SELECT set_config('idle_in_transaction_session_timeout', '0', true)`); err != nil {
			return nil, fmt.Errorf("ingest: begin batch (offsets %d..%d): %w", b.prev.Offset, b.cp.Offset, err)
		}
	}
	fresh, err := ing.dedup.ClaimTx(ctx, tx, b.txs)
	if err != nil {
		return nil, err
	}
	if len(b.behind) > 0 {
		for _, t := range fresh {
			if re := b.behind[t]; re != nil {
				// Dedup does not know it: a transaction not ingested
				// before, or one whose id a prune deleted. The runbook
				// run again plans the same rewind, and this again,
				// unless the replay has committed since what the plan
				// had to reach back for (then a shorter one).
				e := *re
				e.Reason += ", in the replay after the runbook's rewind, and dedup does not know its update id: if it was ingested before, dedup.Store.PruneBefore deleted its id:" +
					" run the runbook once more (it plans the same rewind, unless this replay has committed since what made the plan reach back this far);" +
					" if it stops here again, restore an Integration DB backup that still holds it and run the runbook against that" +
					" (docs/OPERATIONS.md, \"The validator node and the Integration DB both restored\")"
				return nil, &e
			}
		}
	}
	batch := &Batch{
		Transactions: fresh,
		Checkpoints:  b.cps,
		FromOffset:   b.prev.Offset,
		ToOffset:     b.cp.Offset,
		RecordTimes:  maps.Clone(b.cp.RecordTimes),
		Skipped:      len(b.txs) - len(fresh),
		prepared:     b.prepared,
	}
	if r, ok := ing.cfg.Handler.(Reader); ok && len(fresh) > 0 && !split {
		v, err := ing.readBatch(ctx, r, tx, batch)
		if err != nil {
			// The Handler's, even a transient fault (retried as such): a
			// statement timeout there splits the batch (splitAfter).
			return nil, &handlerError{fmt.Errorf("ingest: handler failed to read for batch (offsets %d..%d): %w", b.prev.Offset, b.cp.Offset, err)}
		}
		batch.read, batch.readEarly = v, early
	}
	return &started{b: b, tx: tx, batch: batch, begun: begun}, nil
}

// finish writes the rest of a started batch (the Handler's effects, the
// transactions set aside, the checkpoint) and commits it; on an error it
// rolls it back.
func (ing *Ingester) finish(ctx context.Context, st *started, split bool) (err error) {
	b, tx, batch := st.b, st.tx, st.batch
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var notes []asideNote
	// The malformed transactions go to the review table before the Handler
	// runs: one may be a withdrawal's transfer, and the Reconciler expires
	// nothing while such a row is unresolved, in this batch too.
	for _, p := range b.poison {
		if err := ing.setAside(ctx, tx, p.updateID, p.offset, time.Time{}, "", p.err, p.raw, &notes); err != nil {
			return err
		}
	}
	if ing.cfg.Handler != nil && (len(batch.Transactions) > 0 || len(b.cps) > 0) {
		if split {
			if err := ing.handleSplit(ctx, tx, batch, b.prev.RecordTimes, &notes); err != nil {
				return err
			}
		} else if err := ing.handleBatch(ctx, tx, batch); err != nil {
			if errors.Is(err, sql.ErrTxDone) {
				// One of the handlers chained ended tx; the next one's
				// statement found it so.
				return endedTx(b, err)
			}
			return &handlerError{fmt.Errorf("ingest: handler failed on batch (offsets %d..%d): %w", b.prev.Offset, b.cp.Offset, err)}
		}
	}
	handled := ing.cfg.Handler != nil && (len(batch.Transactions) > 0 || len(b.cps) > 0)
	if err := ing.cps.AdvanceTx(ctx, tx, b.prev.Offset, b.cp); err != nil {
		return leftAborted(handled, b, err)
	}
	b.skipped, b.notes = batch.Skipped, notes
	if err := tx.Commit(); err != nil {
		return &commitFailed{fmt.Errorf("ingest: commit batch (offsets %d..%d): %w", b.prev.Offset, b.cp.Offset, err)}
	}
	ing.noteSetAside(notes)
	return nil
}

var readCommitted = &sql.TxOptions{Isolation: sql.LevelReadCommitted}

// errLeftAborted is a Handler's error when it returned nil but left its SQL
// transaction aborted: it ignored a database error.
var errLeftAborted = errors.New("the handler returned no error but left the SQL transaction aborted (it ignored a database error; use a savepoint to recover from one)")

// inFailedTx reports whether err is PostgreSQL refusing a statement in a
// transaction already aborted (SQLSTATE 25P02).
func inFailedTx(err error) bool {
	var pqe *pq.Error
	return errors.As(err, &pqe) && pqe.Code == "25P02"
}

// leftAborted takes err, met after the Handler ran, for the Handler's if
// the Handler left the transaction aborted.
func leftAborted(handled bool, b *builder, err error) error {
	if handled && inFailedTx(err) {
		return &handlerError{fmt.Errorf("ingest: handler failed on batch (offsets %d..%d): %w: %w", b.prev.Offset, b.cp.Offset, errLeftAborted, err)}
	}
	if handled && errors.Is(err, sql.ErrTxDone) {
		return endedTx(b, err)
	}
	return err
}

// endedTx is the error of b's batch after a Handler ended its SQL
// transaction, found so by err.
func endedTx(b *builder, err error) error {
	return fmt.Errorf("ingest: batch (offsets %d..%d): %w: %w", b.prev.Offset, b.cp.Offset, errHandlerEndedTx, err)
}

// errHandlerEndedTx is the error of a Handler that committed or rolled
// back the batch's SQL transaction, against its contract. It stops Run
// under either poison policy, never retried nor set aside: every batch
// would meet it. What a commit wrote (the dedup rows with the Handler's
// effects, without the checkpoint) is skipped by dedup on the next run.
var errHandlerEndedTx = errors.New("the handler committed or rolled back its SQL transaction, which it must leave to the Ingester")

// handlerTx is a compile-time check that HandlerFunc satisfies Handler.
var _ Handler = HandlerFunc(func(context.Context, *sqlx.Tx, *Batch) error { return nil })
