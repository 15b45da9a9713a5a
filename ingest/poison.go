package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// PoisonPolicy says what happens to a transaction that cannot be ingested:
// one the participant sent malformed, or one the Handler rejects.
type PoisonPolicy int

const (
	// PoisonHalt (the default) stops Run with an error naming the
	// transaction's offset and update id (errors.Is ErrHandlerRejected for
	// the Handler's rejection; a *ledger.DecodeError for a transaction that
	// could not be decoded). Nothing of its batch is committed;
	// fix the cause and restart. To name it when the Handler's error does
	// not (a database's refusal), a rejected batch is handed over again one
	// transaction at a time, in a transaction rolled back afterwards.
	PoisonHalt PoisonPolicy = iota
	// PoisonSetAside records the transaction in the review_transaction table
	// (with the error and the transaction as received) and goes on with the
	// rest. Its effects are not applied. One the Handler rejected was
	// decoded: its update id counts as ingested (dedup), so a replay skips
	// it. One that could not be decoded has no record time to claim its
	// update id with, so it is recorded in review_transaction only: a replay
	// of its offset (a rewind, a restore) offers it again, and if it then
	// decodes, it is applied. Resolve its review row with that in mind.
	//
	// A batch the Handler rejects is handled again one transaction at a
	// time. Each of those batches ends at its transaction: FromOffset,
	// ToOffset and RecordTimes are those reached there. A last batch
	// without transactions then brings the batch's checkpoints and record
	// times, if they go further.
	//
	// What it does not set aside, Config.Poison lists.
	PoisonSetAside
)

// SetAsideRecord is one row of the review table.
type SetAsideRecord struct {
	// UpdateID is "offset:<n>" when the transaction's update id could not
	// be read or cannot be stored (see ledger.StorableUpdateID; Error
	// quotes it then).
	UpdateID       string     `db:"update_id"`
	Offset         int64      `db:"ledger_offset"`
	RecordTime     *time.Time `db:"record_time"`
	SynchronizerID string     `db:"synchronizer_id"`
	// Error is why the transaction was set aside, passwords withheld
	// (Redact).
	Error string `db:"error"`
	// Raw is the transaction as ledger.ReviewJSON encodes it: protobuf
	// JSON, or {"protobuf_base64": ...} when that JSON would hold a NUL or
	// cannot be written.
	Raw        []byte    `db:"raw"`
	SetAsideAt time.Time `db:"set_aside_at"`
}

// poisonItem is an undecodable transaction from the stream.
type poisonItem struct {
	offset   int64
	updateID string
	err      error
	raw      []byte
}

// settable reports whether err is a malformed transaction that can be set
// aside: it names its offset and carries the raw item.
func settable(err error) (*ledger.DecodeError, bool) {
	var de *ledger.DecodeError
	if errors.As(err, &de) && de.Offset > 0 && de.Raw != nil {
		return de, true
	}
	return nil, false
}

func (b *builder) addPoison(de *ledger.DecodeError) error {
	if de.Offset <= b.cp.Offset {
		return fmt.Errorf("ingest: malformed update at offset %d is not after the checkpoint offset %d: %w", de.Offset, b.cp.Offset, de)
	}
	b.poison = append(b.poison, poisonItem{offset: de.Offset, updateID: de.UpdateID, err: de, raw: de.Raw})
	b.cp.Offset = de.Offset
	b.sawCheckpoint = false
	b.touched = true
	return nil
}

// asideNote is a transaction set aside in a batch not yet committed: it
// is logged and counted in Stats once the batch commits (a batch retried
// after a failed commit sets it aside again).
type asideNote struct {
	offset   int64
	updateID string
	cause    error
	again    bool // the review table held it already
	resolved bool // and an operator had resolved it
}

// setAside records a transaction in the review table inside tx (keeping
// the row there if it has one already: a replay) and appends it to notes.
func (ing *Ingester) setAside(ctx context.Context, tx *sqlx.Tx, updateID string, offset int64, rt time.Time, sync string, cause error, raw []byte, notes *[]asideNote) error {
	if !ledger.StorableUpdateID(updateID) {
		// None, or one the review table cannot key (the error quotes it).
		updateID = fmt.Sprintf("offset:%d", offset)
	}
	var rtArg, rawArg any
	if !rt.IsZero() {
		rtArg = rt
	}
	if len(raw) > 0 {
		rawArg = string(raw) // ledger.ReviewJSON's: jsonb takes it
	}
	// text cannot hold a NUL or invalid UTF-8 either; nor a password a
	// Handler's error quotes (a pool of its own), as Run's lines do not.
	msg := strings.ReplaceAll(strings.ToValidUTF8(Redact(cause.Error()), "\uFFFD"), "\x00", `\x00`)
	res, err := tx.ExecContext(ctx, `INSERT INTO `+ing.review+` (update_id, ledger_offset, record_time, synchronizer_id, error, raw, set_aside_at)
		VALUES ($1, $2, $3, $4, $5, $6::jsonb, clock_timestamp()) ON CONFLICT (update_id) DO NOTHING`,
		updateID, offset, rtArg, sync, msg, rawArg)
	if err != nil {
		return fmt.Errorf("ingest: set aside update %s at offset %d: %w", updateID, offset, err)
	}
	n, err := res.RowsAffected()
	note := asideNote{offset: offset, updateID: updateID, cause: cause, again: err == nil && n == 0}
	if note.again {
		// A replay (after a rewind): the log says whether an operator has
		// resolved it already, so that nobody takes it for new work.
		if err := tx.GetContext(ctx, &note.resolved, `SELECT resolved_at IS NOT NULL FROM `+ing.review+` WHERE update_id = $1`, updateID); err != nil {
			return fmt.Errorf("ingest: set aside update %s at offset %d: reading its review row: %w", updateID, offset, err)
		}
	}
	*notes = append(*notes, note)
	return nil
}

// noteSetAside logs and counts the transactions a committed batch set
// aside.
func (ing *Ingester) noteSetAside(notes []asideNote) {
	for _, n := range notes {
		if n.again && n.resolved {
			ing.log.Info("ingest: transaction set aside again on a replay; it was resolved already, and its row and resolution are kept: nothing to do",
				"offset", n.offset, "update_id", n.updateID, "err", redactErr(n.cause))
			continue
		}
		if n.again {
			ing.log.Warn("ingest: transaction set aside for review again; the review table keeps its first record",
				"offset", n.offset, "update_id", n.updateID, "err", redactErr(n.cause))
			continue
		}
		ing.log.Warn("ingest: transaction set aside for review", "offset", n.offset, "update_id", n.updateID, "err", redactErr(n.cause))
		ing.stats.setAside()
	}
}

// handleSplit runs the handler one transaction at a time, each under a
// savepoint, setting aside those it rejects. It is the slow path taken
// under PoisonSetAside once a whole batch has failed.
//
// Each one-transaction batch is what the batch would be had it ended at
// that transaction: its offsets run from the transaction before it (or
// the batch's start) to its own, and its RecordTimes are those reached
// there, from (the checkpoint's before the batch) and the transactions up
// to it. The whole batch's times would have a handler act on times its
// later transactions bring (the Reconciler expiring a withdrawal whose
// transfer comes later in the batch). The batch's checkpoints and its
// full times come last, in a batch without transactions.
func (ing *Ingester) handleSplit(ctx context.Context, tx *sqlx.Tx, batch *Batch, from map[string]time.Time, notes *[]asideNote) error {
	return ing.eachAlone(ctx, tx, batch, from, func(t *ledger.Transaction, herr error) error {
		if deploymentFault(herr) {
			// Not this transaction's fault: every one would be set aside.
			return &handlerError{fmt.Errorf("ingest: handler failed on transaction %s at offset %d (batch offsets %d..%d) with a fault of the deployment, not of the transaction (a table, schema or grant its database lacks, a credential refused, handlers configured wrongly), so it is not set aside: %w",
				t.UpdateID, t.Offset, batch.FromOffset, batch.ToOffset, herr)}
		}
		raw, _ := ledger.ReviewJSON(t.Proto()) // without, if it cannot be encoded
		return ing.setAside(ctx, tx, t.UpdateID, t.Offset, t.RecordTime, t.SynchronizerID, herr, raw, notes)
	})
}

// locate names the transaction of b that the handler rejects, for an error
// under PoisonHalt: it hands b's transactions over one at a time, as
// handleSplit does, in a transaction it rolls back, and returns the first
// rejection, naming the transaction's offset and update id. A transient
// fault that ends locating (PostgreSQL restarted during the pass) it
// returns, naming the batch's offsets, for Run to retry the batch and
// locate again: batchErr would stop Run naming no transaction. If the
// handler takes every one alone, or locating fails otherwise, it returns
// batchErr; alone says that it took each of two or more transactions
// alone.
func (ing *Ingester) locate(ctx context.Context, b *builder, batchErr error) (_ error, alone bool) {
	// failed is what locate returns when it cannot finish because of err.
	failed := func(err error) error {
		if transientHandlerError(err) && ctx.Err() == nil {
			return fmt.Errorf("ingest: locating the transaction the handler rejects in batch (offsets %d..%d): %w", b.prev.Offset, b.cp.Offset, err)
		}
		return batchErr
	}
	st, err := ing.start(ctx, b, false, true)
	if err != nil {
		return failed(err), false
	}
	defer func() { _ = st.tx.Rollback() }()
	var located error
	err = ing.eachAlone(ctx, st.tx, st.batch, b.prev.RecordTimes, func(t *ledger.Transaction, herr error) error {
		located = &handlerError{fmt.Errorf("ingest: handler failed on transaction %s at offset %d (batch offsets %d..%d): %w",
			t.UpdateID, t.Offset, b.prev.Offset, b.cp.Offset, herr)}
		return located
	})
	if located != nil && errors.Is(err, located) {
		return located, false
	}
	if err != nil {
		return failed(err), false
	}
	if r, ok := ing.cfg.Handler.(Reader); ok {
		// HandleBatch took every one alone: ReadBatch may be what rejects
		// the batch. Read for each transaction alone, as the batch would.
		for _, t := range st.batch.Transactions {
			if _, err := st.tx.ExecContext(ctx, `SAVEPOINT txhistory_locate`); err != nil {
				return failed(err), false
			}
			one := *st.batch
			one.Transactions = []*ledger.Transaction{t}
			one.read, one.readEarly = nil, false
			_, rerr := ing.readBatch(ctx, r, st.tx, &one)
			if rerr != nil && !transientHandlerError(rerr) && ctx.Err() == nil {
				return &handlerError{fmt.Errorf("ingest: handler failed to read for transaction %s at offset %d (batch offsets %d..%d): %w",
					t.UpdateID, t.Offset, b.prev.Offset, b.cp.Offset, rerr)}, false
			}
			if rerr != nil {
				return failed(rerr), false
			}
			if _, err := st.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT txhistory_locate`); err != nil {
				return failed(err), false
			}
		}
	}
	return batchErr, len(st.batch.Transactions) > 1
}

// eachAlone runs the handler on batch one transaction at a time, each under
// a savepoint, and calls reject, after rolling back to the savepoint, for
// each one the handler refuses; an error of reject ends it.
func (ing *Ingester) eachAlone(ctx context.Context, tx *sqlx.Tx, batch *Batch, from map[string]time.Time, reject func(t *ledger.Transaction, herr error) error) error {
	times := maps.Clone(from)
	if times == nil {
		times = make(map[string]time.Time, len(batch.RecordTimes))
	}
	offset := batch.FromOffset
	for i, t := range batch.Transactions {
		if cur, ok := times[t.SynchronizerID]; !ok || t.RecordTime.After(cur) {
			times[t.SynchronizerID] = t.RecordTime
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT txhistory_poison`); err != nil {
			return err
		}
		one := *batch
		one.Transactions = batch.Transactions[i : i+1]
		one.Checkpoints = nil
		one.FromOffset, one.ToOffset = offset, t.Offset
		one.RecordTimes = maps.Clone(times)
		one.Skipped = 0
		one.read, one.readEarly = nil, false // read for the whole batch
		offset = t.Offset
		herr := ing.handleBatch(ctx, tx, &one)
		if herr == nil {
			_, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT txhistory_poison`)
			if err == nil {
				continue
			}
			if errors.Is(err, sql.ErrTxDone) {
				return fmt.Errorf("ingest: transaction %s at offset %d (batch offsets %d..%d): %w: %w",
					t.UpdateID, t.Offset, batch.FromOffset, batch.ToOffset, errHandlerEndedTx, err)
			}
			if !inFailedTx(err) {
				return err
			}
			herr = fmt.Errorf("%w: %w", errLeftAborted, err)
		}
		if transientHandlerError(herr) || ctx.Err() != nil {
			return herr
		}
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT txhistory_poison`); err != nil {
			if IsTransientDBError(err) || ctx.Err() != nil {
				return err
			}
			// The Handler left the connection busy: rows it queried still
			// open (no deferred rows.Close) when it failed or panicked. The
			// SQL transaction cannot go on, so nothing can be set aside in
			// it: Run stops, naming the transaction.
			return &handlerError{fmt.Errorf("ingest: handler failed on transaction %s at offset %d (batch offsets %d..%d) and left its SQL transaction unusable, so it cannot be set aside (did it return with query rows open? close them before returning): %w; rolling back to the savepoint: %w",
				t.UpdateID, t.Offset, batch.FromOffset, batch.ToOffset, herr, err)}
		}
		if err := reject(t, herr); err != nil {
			return err
		}
	}
	if len(batch.Checkpoints) > 0 || !maps.Equal(times, batch.RecordTimes) || offset != batch.ToOffset {
		rest := *batch
		rest.Transactions = nil
		rest.FromOffset = offset
		rest.Skipped = 0
		rest.read, rest.readEarly = nil, false
		if err := ing.handleBatch(ctx, tx, &rest); err != nil {
			return fmt.Errorf("ingest: handler failed on the end of batch (offsets %d..%d): %w", batch.FromOffset, batch.ToOffset, err)
		}
	}
	return nil
}

// SetAsideTransactions lists the transactions waiting for review, oldest
// first (in the order they were set aside, then by offset: after a
// validator node restore the participant numbers transactions from lower
// offsets than some set aside before), times in UTC. SetAsideAt is the
// time of the row's insert, not of its batch's start (batches overlap, and
// each writes after the one before has committed). When ctx ends while
// its statement runs, the error wraps ctx's too.
func (ing *Ingester) SetAsideTransactions(ctx context.Context) ([]SetAsideRecord, error) {
	var out []SetAsideRecord
	err := sqlx.SelectContext(ctx, ing.db, &out, `SELECT update_id, ledger_offset, record_time, synchronizer_id, error, coalesce(raw::text, '') AS raw, set_aside_at
		FROM `+ing.review+` WHERE resolved_at IS NULL ORDER BY set_aside_at, ledger_offset`)
	if err != nil {
		return nil, fmt.Errorf("ingest: list set-aside transactions: %w", redactErr(ctxerr.Wrap(ctx, err)))
	}
	for i := range out { // in UTC, whatever the session's TimeZone
		if rt := out[i].RecordTime; rt != nil {
			utc := rt.UTC()
			out[i].RecordTime = &utc
		}
		out[i].SetAsideAt = out[i].SetAsideAt.UTC()
	}
	return out, nil
}

// ErrNotSetAside is returned (wrapped) by ResolveSetAside for an update id
// that has no unresolved row in the review table. For one resolved
// already the error says when and with what resolution: tried again after
// an unknown outcome (a connection lost at the COMMIT), it means the
// first call committed (and so did the effects a ResolveSetAsideTx
// transaction wrote with it: roll the retried transaction back).
var ErrNotSetAside = errors.New("ingest: no unresolved set-aside transaction with this update id")

// ResolveSetAside marks the set-aside transaction updateID (as
// SetAsideTransactions lists it: "offset:<n>" for one whose update id could
// not be stored) resolved, with resolution saying what was done about it
// (applied by hand, credited, nothing to do). It does not apply the
// transaction. While any set-aside transaction is unresolved the
// withdrawal Reconciler expires nothing and the withdrawal gate does not
// open after a restore; resolve a row once its effects are dealt with.
//
// Like the batches, it first checks the schema's version in its
// transaction (schema.CheckCurrentTx) and resolves nothing on a schema
// not at this build's version: one a newer release migrated
// (schema.ErrUnknownVersion, during a rolling upgrade: resolve with the
// newer release) or one not yet migrated by this release
// (schema.ErrNotMigrated).
//
// When ctx ends while a statement runs, the error wraps ctx's too:
// errors.Is finds context.DeadlineExceeded or context.Canceled. A refusal
// (an empty resolution, ErrNotSetAside, the schema's version) is a
// verdict: it never wraps ctx's, even if ctx ended meanwhile.
func (ing *Ingester) ResolveSetAside(ctx context.Context, updateID, resolution string) error {
	if strings.TrimSpace(resolution) == "" {
		return errors.New("ingest: ResolveSetAside: say what was done (resolution is empty)")
	}
	tx, err := ing.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("ingest: resolve set-aside transaction %s: %w", updateID, redactErr(ctxerr.Wrap(ctx, err)))
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	if err := ing.ResolveSetAsideTx(ctx, tx, updateID, resolution); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ingest: resolve set-aside transaction %s: commit: %w", updateID, redactErr(ctxerr.Wrap(ctx, err)))
	}
	ing.log.Info("ingest: set-aside transaction resolved", "update_id", updateID, "resolution", resolution)
	return nil
}

// ResolveSetAsideTx is ResolveSetAside inside the caller's transaction tx,
// for an operator who deals with the set-aside transaction's effects (a
// deposit credited, a withdrawal's outcome applied by hand) and resolves
// it at once: the resolution is kept if tx commits, and rolled back with
// it. It checks the schema's version in tx as ResolveSetAside does
// (schema.CheckCurrentTx: tx must be READ COMMITTED), and logs nothing (it
// cannot know whether tx commits). On error, roll tx back: it may be in an
// aborted state.
//
// The version check holds the schema's migration lock shared until tx
// ends: a migration (the migration job of a rolling upgrade) waits for tx,
// and while it waits every later ingestion batch, withdrawal Create and
// Automation submission waits behind it. Keep tx short: deal with the
// effects, resolve and commit, rather than leave it open while looking
// into the transaction.
//
// Which effects to apply by hand depends on why the transaction was set
// aside (see PoisonSetAside). One a Handler rejected counts as ingested:
// a replay (a rewind) skips it, so nothing applies it but the operator.
// One that could not be decoded is offered again by a replay of its
// offset, and applied if it then decodes (a release that reads it),
// whatever its row says: do not also apply by hand what a Handler would
// apply then, or let the replay apply it and resolve the row afterwards.
// Effects written in tx go back with the resolution when an Integration
// DB restore goes back before tx; the row is then unresolved again.
func (ing *Ingester) ResolveSetAsideTx(ctx context.Context, tx *sqlx.Tx, updateID, resolution string) error {
	if strings.TrimSpace(resolution) == "" {
		return errors.New("ingest: ResolveSetAside: say what was done (resolution is empty)")
	}
	if tx == nil {
		return fmt.Errorf("ingest: resolve set-aside transaction %s: nil transaction", updateID)
	}
	if err := schema.CheckCurrentTx(ctx, tx, schema.WithSchema(ing.cfg.Schema)); err != nil {
		return fmt.Errorf("ingest: resolve set-aside transaction %s: %w", updateID, redactErr(err))
	}
	// The time of the resolution itself, as set_aside_at is of the insert:
	// now() is the start of tx, which the caller may have begun before the
	// transaction was set aside.
	res, err := tx.ExecContext(ctx, `UPDATE `+ing.review+` SET resolved_at = clock_timestamp(), resolution = $2
		WHERE update_id = $1 AND resolved_at IS NULL`, updateID, resolution)
	if err != nil {
		return fmt.Errorf("ingest: resolve set-aside transaction %s: %w", updateID, redactErr(ctxerr.Wrap(ctx, err)))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("ingest: resolve set-aside transaction %s: %w", updateID, err)
	} else if n == 0 {
		// Resolved already, perhaps by a call that committed though its
		// reply was lost (a connection dropped at its COMMIT), tried
		// again: say when and how, unlike for an id never set aside.
		var done []struct {
			At         time.Time `db:"resolved_at"`
			Resolution string    `db:"resolution"`
		}
		if err := sqlx.SelectContext(ctx, tx, &done, `SELECT resolved_at, coalesce(resolution, '') AS resolution FROM `+ing.review+`
			WHERE update_id = $1 AND resolved_at IS NOT NULL ORDER BY resolved_at DESC LIMIT 1`, updateID); err == nil && len(done) == 1 {
			return fmt.Errorf("%w: %s: resolved at %s (%q)", ErrNotSetAside, updateID, done[0].At.UTC().Format(time.RFC3339Nano), done[0].Resolution)
		}
		return fmt.Errorf("%w: %s", ErrNotSetAside, updateID)
	}
	return nil
}
