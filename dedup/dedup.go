// Package dedup remembers the update ids that ingestion has applied, so that
// no transaction is applied twice: not when a stream is replayed after a
// crash, not after a rewind of the checkpoint, and not when record times are
// non-unique and the restore runbook resumes a little early (tRecovery − 1µs).
// It knows the ids it still holds: once PruneBefore deleted an id, a rewind
// of the checkpoint to before it applies its transaction again, and nothing
// detects that; rewind no further back than the retention (and see
// PruneBefore for what the runbook needs kept).
//
// ClaimTx inserts a batch's update ids in the batch's SQL transaction with one
// statement and returns the transactions that were new; the rest were
// ingested before and must be skipped.
//
// When the context of a read (Contains, OffsetOf, Count, Since, At) or of
// PruneBefore ends while its statement runs, the error wraps the context's
// too: errors.Is finds context.DeadlineExceeded or context.Canceled, not
// only the driver's words for the cancelled statement.
package dedup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/pglist"
	"github.com/cantonx/txhistory/internal/pgsetting"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/jmoiron/sqlx/reflectx"
	"github.com/lib/pq"
)

// Store is the set of ingested update ids of one schema. Make one with
// NewStore: the zero Store names no schema, and its statements fail.
type Store struct {
	schema     string
	table      string
	checkpoint string // the checkpoint table of the same schema
	syncTime   string // its synchronizer_time table
}

// NewStore returns a store for the ingested_update table in schemaName.
func NewStore(schemaName string) (*Store, error) {
	if err := schema.ValidateName(schemaName); err != nil {
		return nil, err
	}
	return &Store{schema: schemaName, table: schema.Qualify(schemaName, "ingested_update"), checkpoint: schema.Qualify(schemaName, "checkpoint"),
		syncTime: schema.Qualify(schemaName, "synchronizer_time")}, nil
}

// ClaimTx records the update ids of txs inside tx and returns the
// transactions that had not been ingested before, in their original order.
// A transaction that appears twice in txs is returned once.
func (s *Store) ClaimTx(ctx context.Context, tx *sqlx.Tx, txs []*ledger.Transaction) ([]*ledger.Transaction, error) {
	if len(txs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(txs))
	offs := make([]int64, len(txs))
	rts := make([]time.Time, len(txs))
	syncs := make([]string, len(txs))
	for i, t := range txs {
		ids[i], offs[i], rts[i], syncs[i] = t.UpdateID, t.Offset, t.RecordTime, t.SynchronizerID
	}
	// The ids as lists split on the server (package pglist): cheaper for
	// PostgreSQL to read than text arrays.
	idList, idArg := pglist.Param(1, ids)
	syncList, syncArg := pglist.Param(4, syncs)
	// One row comes back: how many ids were claimed and, only if some were
	// not (ingested before, or twice in txs), the claimed ones. A batch of
	// new ids, the usual case, sends no id back.
	var claimed int
	var freshIDs pq.StringArray
	err := tx.QueryRowContext(ctx, `WITH claimed AS (
			INSERT INTO `+s.table+` (update_id, ledger_offset, record_time, synchronizer_id)
			SELECT * FROM unnest(`+idList+`, $2::bigint[], $3::timestamptz[], `+syncList+`)
			ON CONFLICT (update_id) DO NOTHING
			RETURNING update_id
		)
		SELECT count(*), CASE WHEN count(*) < $5::int THEN array_agg(update_id) END FROM claimed`,
		idArg, pq.Array(offs), pq.Array(rts), syncArg, len(txs)).Scan(&claimed, &freshIDs)
	if err != nil {
		return nil, fmt.Errorf("dedup: claim update ids (offsets %d..%d): %w", txs[0].Offset, txs[len(txs)-1].Offset, ctxerr.Wrap(ctx, err))
	}
	if claimed == len(txs) {
		return slices.Clone(txs), nil
	}
	fresh := make(map[string]bool, len(freshIDs))
	for _, id := range freshIDs {
		fresh[id] = true
	}
	out := make([]*ledger.Transaction, 0, len(fresh))
	for _, t := range txs {
		if fresh[t.UpdateID] {
			out = append(out, t)
			delete(fresh, t.UpdateID)
		}
	}
	return out, nil
}

// Contains reports whether updateID has been ingested.
func (s *Store) Contains(ctx context.Context, q sqlx.QueryerContext, updateID string) (bool, error) {
	var ok bool
	if err := sqlx.GetContext(ctx, q, &ok, `SELECT EXISTS (SELECT 1 FROM `+s.table+` WHERE update_id = $1)`, updateID); err != nil {
		return false, fmt.Errorf("dedup: look up %s: %w", updateID, ctxerr.Wrap(ctx, err))
	}
	return ok, nil
}

// OffsetOf returns the offset at which updateID was ingested.
func (s *Store) OffsetOf(ctx context.Context, q sqlx.QueryerContext, updateID string) (offset int64, found bool, err error) {
	err = sqlx.GetContext(ctx, q, &offset, `SELECT ledger_offset FROM `+s.table+` WHERE update_id = $1`, updateID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("dedup: look up %s: %w", updateID, ctxerr.Wrap(ctx, err))
	}
	return offset, true, nil
}

// Count returns how many update ids are stored.
func (s *Store) Count(ctx context.Context, q sqlx.QueryerContext) (int64, error) {
	var n int64
	if err := sqlx.GetContext(ctx, q, &n, `SELECT count(*) FROM `+s.table); err != nil {
		return 0, fmt.Errorf("dedup: count: %w", ctxerr.Wrap(ctx, err))
	}
	return n, nil
}

// Ingested is one stored update id.
type Ingested struct {
	UpdateID       string    `db:"update_id"`
	Offset         int64     `db:"ledger_offset"`
	RecordTime     time.Time `db:"record_time"`
	SynchronizerID string    `db:"synchronizer_id"`
}

// Since returns the ingested updates with record time at or after t on any
// synchronizer, in record time order (for reports after a restore), record
// times in UTC.
func (s *Store) Since(ctx context.Context, q sqlx.QueryerContext, t time.Time) ([]Ingested, error) {
	var out []Ingested
	err := sqlx.SelectContext(ctx, q, &out, `SELECT update_id, ledger_offset, record_time, synchronizer_id FROM `+s.table+` WHERE record_time >= $1 ORDER BY record_time, ledger_offset`, t)
	if err != nil {
		return nil, fmt.Errorf("dedup: list since %s: %w", t.Format(time.RFC3339Nano), ctxerr.Wrap(ctx, err))
	}
	for i := range out { // in UTC, whatever the session's TimeZone
		out[i].RecordTime = out[i].RecordTime.UTC()
	}
	return out, nil
}

// At returns the ingested updates of synchronizerID with record time t
// exactly (for the restore runbook), record times in UTC.
func (s *Store) At(ctx context.Context, q sqlx.QueryerContext, synchronizerID string, t time.Time) ([]Ingested, error) {
	var out []Ingested
	err := sqlx.SelectContext(ctx, q, &out, `SELECT update_id, ledger_offset, record_time, synchronizer_id FROM `+s.table+` WHERE record_time = $1 AND synchronizer_id = $2 ORDER BY ledger_offset`, t, synchronizerID)
	if err != nil {
		return nil, fmt.Errorf("dedup: list those at %s on synchronizer %s: %w", t.Format(time.RFC3339Nano), synchronizerID, ctxerr.Wrap(ctx, err))
	}
	for i := range out {
		out[i].RecordTime = out[i].RecordTime.UTC()
	}
	return out, nil
}

// PruneBefore deletes update ids whose record time is before t and returns
// how many it deleted. Keep at least as much as a restore can replay: t
// must lie before the oldest validator node backup that may be restored (a
// backup may be up to 30 days old, so retain well over 30 days). A
// restored participant sequences again what came after its backup, and may
// interleave the synchronizers differently: an id ingested after the
// backup may come back after offRecovery, and dedup must still know it.
//
// Whatever t, it keeps what the validator node restore runbook's default
// mode (recovery.ModeNonUnique) replays and relies on these ids to drop, for
// a treasury idle for longer than the retention: the ids at and after the
// checkpoint's record time (tRecovery), and every id ingested after the last
// transaction before tRecovery on the checkpoint's synchronizer, whatever
// its synchronizer (another synchronizer's clock may be behind, its record
// times before tRecovery). "After" holds by the offset an id was first
// ingested at or by the time it was ingested: after a restore the offsets
// of ids ingested before it and after it are not comparable. Within the
// batch that claimed that transaction (one ingested_at, the batch's
// transaction start) "after" is by offset in that batch. An id that a
// restored node re-interleaved after that point though it was ingested
// before it is kept only by the retention rule above. On every
// synchronizer it also keeps the ids at its ingested record time (table
// synchronizer_time): a replay that reaches back to that time meets them
// again not behind it, and only dedup keeps them from being applied
// twice. On every other synchronizer with an ingested record time tS it
// keeps every id ingested after the last one before tS there (after the
// last one at tS, if none is before), whatever its synchronizer: the
// runbook looks that synchronizer up as of tS − 1µs and lowers offRecovery
// to that point, so its replay reads them again, and those of the
// checkpoint's synchronizer may have record times before tS (so they had
// with the cut at the oldest of the checkpoint's record times, below). It
// keeps that last id before tS too: pruned, the next prune would find none
// before tS and keep only what was ingested after the last one at tS. When
// the checkpoint has no transaction, the other ids before t are deleted.
//
// That protects the checkpoint as it is when the prune runs. A treasury
// that uses a second synchronizer seldom may next be checkpointed on it,
// and the runbook's replay then reaches back to that synchronizer's
// transaction before, which may lie beyond the retention: ids pruned after
// it come back in the replay with record times behind those ingested, and
// ingestion stops (ingest.ErrParticipantRestored) instead of applying them
// again. The replay also reaches back before another synchronizer's
// ingested record time when the restored participant numbered that
// synchronizer's later transactions below the last ingested one (the
// recovery package's Limits), and ids pruned there come back behind it:
// ingestion stops the same way (those at exactly that time are kept, see
// above). Keep t before the oldest of the checkpoint's record times
// (checkpoint.Checkpoint.RecordTimes, one per synchronizer) to rule both
// out, at the cost of a seldom-used synchronizer holding pruning back.
// Where the runbook cannot tell from the dedup table where another
// synchronizer's transactions lie (one known from OffsetCheckpoints alone,
// or one the Integration DB never saw), it reads the treasury's
// transactions and replays only from below its first transaction there,
// which lies after the node backup; given a recovery.Participant that does
// not stream updates (not a *ledger.Client), it replays the whole ledger,
// from offset 0, and that replay stops at the first pruned id.
//
// Finding those last transactions reads the rows before tRecovery and
// before each synchronizer's record time (the record time index narrows
// neither much): a prune costs a scan of the table per synchronizer, and
// one more for the delete (about half a second for 300,000 ids on three
// synchronizers). That statement runs with statement_timeout off (a DBA's
// shorter one would fail every prune, and every retry, while the table
// grows); ctx bounds it, and the transaction's value is set back after
// it. On an error, roll the transaction back (one given as db: its
// statement_timeout may still be off). lock_timeout still applies.
//
// It first checks the schema's version in its transaction (db's, if db is
// a *sqlx.Tx or *sql.Tx; else one of its own on db, a *sqlx.DB, *sqlx.Conn,
// *sql.DB or *sql.Conn; other types are refused) with
// schema.CheckCurrentTx, and deletes nothing from a schema not at this
// build's version: one a newer release migrated (schema.ErrUnknownVersion,
// during a rolling upgrade: the newer release may keep more) or one not
// yet migrated by this release (schema.ErrNotMigrated). When ctx ends
// while a statement runs, the error wraps ctx's too: errors.Is finds
// context.DeadlineExceeded or context.Canceled.
func (s *Store) PruneBefore(ctx context.Context, db sqlx.ExecerContext, t time.Time) (n int64, err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	switch q := db.(type) {
	case *sqlx.Tx:
		return s.pruneTx(ctx, q, t)
	case *sql.Tx:
		return s.pruneTx(ctx, sqlxTx(q), t)
	case interface {
		BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
	}: // *sql.DB, *sql.Conn, and sqlx's, which embed them
		tx, err := q.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			return 0, fmt.Errorf("dedup: prune before %s: %w", t.Format(time.RFC3339Nano), err)
		}
		defer func() { _ = tx.Rollback() }() // no-op after Commit
		n, err := s.pruneTx(ctx, sqlxTx(tx), t)
		if err != nil {
			return 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, fmt.Errorf("dedup: prune before %s: commit: %w", t.Format(time.RFC3339Nano), err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("dedup: prune before %s: db is a %T, not a *sqlx.DB, *sqlx.Conn, *sqlx.Tx or database/sql's, in whose transaction the schema's version is checked", t.Format(time.RFC3339Nano), db)
}

// sqlxTx is tx as sqlx's, with sqlx's default mapper.
func sqlxTx(tx *sql.Tx) *sqlx.Tx {
	return &sqlx.Tx{Tx: tx, Mapper: reflectx.NewMapperFunc("db", sqlx.NameMapper)}
}

// pruneTx is PruneBefore in tx.
func (s *Store) pruneTx(ctx context.Context, tx *sqlx.Tx, t time.Time) (int64, error) {
	if err := schema.CheckCurrentTx(ctx, tx, schema.WithSchema(s.schema)); err != nil {
		return 0, fmt.Errorf("dedup: prune before %s: %w", t.Format(time.RFC3339Nano), err)
	}
	// The statement below scans the table, so its time grows with it: a
	// DBA's statement_timeout shorter than that would fail every prune, and
	// every retry, while the table grows. It is off for that statement
	// alone (ctx bounds it) and set back in tx after it.
	restore, err := pgsetting.Off(ctx, tx, "statement_timeout")
	if err != nil {
		return 0, fmt.Errorf("dedup: prune before %s: %w", t.Format(time.RFC3339Nano), err)
	}
	res, err := tx.ExecContext(ctx, `WITH c AS (
			SELECT record_time, synchronizer_id FROM `+s.checkpoint+` WHERE id = 1 AND record_time IS NOT NULL
		), last AS (
			SELECT max(d.ledger_offset) AS ledger_offset, max(d.ingested_at) AS ingested_at FROM `+s.table+` d, c
			WHERE d.synchronizer_id = c.synchronizer_id AND d.record_time < c.record_time
		), batch AS (
			SELECT max(d.ledger_offset) AS ledger_offset FROM `+s.table+` d, c, last
			WHERE d.synchronizer_id = c.synchronizer_id AND d.record_time < c.record_time AND d.ingested_at = last.ingested_at
		), keep AS (
			SELECT coalesce((SELECT record_time FROM c), 'infinity') AS record_time,
				CASE WHEN EXISTS (SELECT FROM c) THEN coalesce((SELECT ledger_offset FROM last), -1)
					ELSE 9223372036854775807 END AS ledger_offset,
				CASE WHEN EXISTS (SELECT FROM c) THEN coalesce((SELECT ingested_at FROM last), '-infinity')
					ELSE 'infinity' END AS ingested_at,
				coalesce((SELECT ledger_offset FROM batch), 9223372036854775807) AS batch_offset
		), others AS (
			-- Per other synchronizer with an ingested record time tS, the
			-- last id ingested there before tS, or at tS if none is
			-- before: the runbook's replay reaches back to it. That id is
			-- kept too: pruned, the next prune would find none before tS
			-- and take the last one at tS, later, instead.
			SELECT l.update_id, l.ledger_offset, l.ingested_at FROM `+s.syncTime+` st JOIN c ON st.synchronizer_id <> c.synchronizer_id,
				LATERAL (SELECT d.update_id, d.ledger_offset, d.ingested_at FROM `+s.table+` d
					WHERE d.synchronizer_id = st.synchronizer_id AND d.record_time <= st.record_time
					ORDER BY d.record_time < st.record_time DESC, d.ingested_at DESC, d.ledger_offset DESC LIMIT 1) l
		)
		DELETE FROM `+s.table+` u USING keep
		WHERE u.record_time < $1 AND u.record_time < keep.record_time
			AND u.ledger_offset <= keep.ledger_offset AND u.ingested_at <= keep.ingested_at
			AND NOT (u.ingested_at = keep.ingested_at AND u.ledger_offset > keep.batch_offset)
			AND NOT EXISTS (SELECT FROM `+s.syncTime+` st
				WHERE st.synchronizer_id = u.synchronizer_id AND u.record_time >= st.record_time)
			AND NOT EXISTS (SELECT FROM others o
				WHERE u.ingested_at > o.ingested_at OR u.ledger_offset > o.ledger_offset OR u.update_id = o.update_id)`, t)
	if err != nil {
		return 0, fmt.Errorf("dedup: prune before %s: %w", t.Format(time.RFC3339Nano), err)
	}
	if err := restore(ctx); err != nil {
		return 0, fmt.Errorf("dedup: prune before %s: %w", t.Format(time.RFC3339Nano), err)
	}
	return res.RowsAffected()
}
