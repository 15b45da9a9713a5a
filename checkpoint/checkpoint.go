package checkpoint

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Checkpoint is the stored position of ingestion.
type Checkpoint struct {
	// Offset is the last offset committed: begin_exclusive of the next stream.
	Offset int64
	// UpdateID, RecordTime and SynchronizerID describe the last ingested
	// transaction (tRecovery of the validator node restore runbook). Empty
	// until a transaction has been ingested.
	UpdateID       string
	RecordTime     time.Time
	SynchronizerID string
	// UpdateOffset is the offset at which UpdateID was ingested; 0 when
	// unknown (nothing ingested yet, or the checkpoint was rewound since, so
	// that the participant's offsets may differ).
	UpdateOffset int64
	// RecordTimes is the record time reached per synchronizer, from
	// transactions and OffsetCheckpoints alike.
	RecordTimes map[string]time.Time
	// UpdatedAt is when the checkpoint was last written (database clock).
	UpdatedAt time.Time
	// Parties are the treasury parties ingested for, sorted and without
	// duplicates (see package ingest, Config.Parties). Nil when none were
	// recorded: a checkpoint written before schema version 010, or by a
	// writer that names none.
	Parties []string
}

// NormalizeParties returns parties sorted and without duplicates, as
// Checkpoint.Parties holds them: two lists naming the same parties, in any
// order, normalise to equal slices. Nil or empty gives nil.
func NormalizeParties(parties []string) []string {
	if len(parties) == 0 {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(parties)))
}

// RecordTimeOn returns the record time reached on a synchronizer (zero if none).
func (c Checkpoint) RecordTimeOn(synchronizerID string) time.Time {
	return c.RecordTimes[synchronizerID]
}

// MaxRecordTime returns the latest record time reached on any synchronizer.
func (c Checkpoint) MaxRecordTime() time.Time {
	var m time.Time
	for _, t := range c.RecordTimes {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// Clone returns a deep copy.
func (c Checkpoint) Clone() Checkpoint {
	c.RecordTimes = maps.Clone(c.RecordTimes)
	c.Parties = slices.Clone(c.Parties)
	if c.RecordTimes == nil {
		c.RecordTimes = map[string]time.Time{}
	}
	return c
}

// ErrConflict means the stored checkpoint was not where the writer expected
// it: another process advanced or rewound it. Two ingesters on one
// Integration DB are a misconfiguration; the second one stops.
var ErrConflict = errors.New("checkpoint: stored offset changed underneath (another ingester running, or a rewind?)")

// Store reads and writes the checkpoint tables of one schema. Make one with
// NewStore: the zero Store names no schema, and its statements fail.
type Store struct {
	schema     string
	checkpoint string
	syncTime   string
	rewind     string
}

// NewStore returns a store for the tables in schemaName (created by schema.Migrate).
func NewStore(schemaName string) (*Store, error) {
	if err := schema.ValidateName(schemaName); err != nil {
		return nil, err
	}
	return &Store{
		schema:     schemaName,
		checkpoint: schema.Qualify(schemaName, "checkpoint"),
		syncTime:   schema.Qualify(schemaName, "synchronizer_time"),
		rewind:     schema.Qualify(schemaName, "checkpoint_rewind"),
	}, nil
}

// Get returns the stored checkpoint. found is false before the first write.
//
// It reads the checkpoint row and the synchronizers' record times in one
// statement, so in one snapshot: as one committed batch left them, even
// while an Ingester commits (under READ COMMITTED each statement sees the
// commits made before it started, and two statements could pair one batch's
// offset with a later batch's record times).
//
// It reads a schema of any version, also one from before version 010
// (Parties nil): the withdrawal gate reads the record times of an
// Integration DB restored from an older backup before it is migrated.
//
// When ctx ends while the statement runs, the error wraps ctx's too:
// errors.Is finds context.DeadlineExceeded or context.Canceled.
func (s *Store) Get(ctx context.Context, q sqlx.QueryerContext) (cp Checkpoint, found bool, err error) {
	rows, err := q.QueryxContext(ctx, `SELECT c.ledger_offset, c.update_id, c.update_offset, c.record_time, c.synchronizer_id, c.updated_at, to_jsonb(c) -> 'parties',
			t.synchronizer_id, t.record_time
		FROM `+s.checkpoint+` AS c LEFT JOIN `+s.syncTime+` AS t ON true
		WHERE c.id = 1`)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint: read: %w", ctxerr.Wrap(ctx, err))
	}
	defer rows.Close()
	cp = Checkpoint{RecordTimes: map[string]time.Time{}}
	for rows.Next() {
		var (
			updateOffset sql.NullInt64
			recordTime   sql.NullTime
			updatedAt    time.Time
			parties      []byte // JSON: null (or SQL NULL) when not recorded
			syncID       sql.NullString
			syncTime     sql.NullTime
		)
		if err := rows.Scan(&cp.Offset, &cp.UpdateID, &updateOffset, &recordTime, &cp.SynchronizerID, &updatedAt, &parties, &syncID, &syncTime); err != nil {
			return Checkpoint{}, false, fmt.Errorf("checkpoint: read: %w", ctxerr.Wrap(ctx, err))
		}
		if !found && parties != nil { // every row repeats the checkpoint's columns
			if err := json.Unmarshal(parties, &cp.Parties); err != nil {
				return Checkpoint{}, false, fmt.Errorf("checkpoint: read parties: %w", err)
			}
			cp.Parties = NormalizeParties(cp.Parties)
		}
		found = true
		cp.UpdateOffset, cp.UpdatedAt = updateOffset.Int64, updatedAt.UTC()
		if recordTime.Valid { // every row repeats the checkpoint's columns
			cp.RecordTime = recordTime.Time.UTC()
		}
		if syncID.Valid && syncTime.Valid {
			cp.RecordTimes[syncID.String] = syncTime.Time.UTC()
		}
	}
	if err := rows.Err(); err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint: read: %w", ctxerr.Wrap(ctx, err))
	}
	if !found {
		return Checkpoint{RecordTimes: map[string]time.Time{}}, false, nil
	}
	return cp, true, nil
}

// InitTx writes the first checkpoint at offset if none exists yet (ingestion
// will begin after that offset), recording parties, if any, as its Parties.
// It returns the stored checkpoint either way: one that existed keeps its
// parties (compare them, and record others with SetParties). An empty
// party id is refused.
func (s *Store) InitTx(ctx context.Context, tx *sqlx.Tx, offset int64, parties ...string) (Checkpoint, error) {
	if offset < 0 {
		return Checkpoint{}, fmt.Errorf("checkpoint: invalid initial offset %d", offset)
	}
	if err := checkParties(parties); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: init: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+s.checkpoint+` (id, ledger_offset, parties) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING`,
		offset, partiesArray(parties)); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: init: %w", err)
	}
	cp, _, err := s.Get(ctx, tx)
	return cp, err
}

// Init is InitTx in its own transaction. When ctx ends while a statement
// runs, the error wraps ctx's too: errors.Is finds context.DeadlineExceeded
// or context.Canceled.
func (s *Store) Init(ctx context.Context, db *sqlx.DB, offset int64, parties ...string) (cp Checkpoint, err error) {
	if db == nil {
		return Checkpoint{}, errors.New("checkpoint: init: nil database")
	}
	err = inTx(ctx, db, func(tx *sqlx.Tx) error {
		cp, err = s.InitTx(ctx, tx, offset, parties...)
		return err
	})
	return cp, err
}

// SetParties records parties (normalised, see NormalizeParties) as the
// stored checkpoint's Parties, for a checkpoint that has none recorded or
// an accepted change of them, if its Parties are still from (those the
// caller read; nil: none recorded), or are parties already (the call
// committed though its reply was lost, and is made again: it changes
// nothing then). It changes nothing else: not the offset, nor UpdatedAt.
// It fails if there is no checkpoint, and with ErrPartiesConflict if
// another writer recorded other parties since from was read. The stored
// parties are compared with from as Get reads them: as a set, an empty
// array as none. An empty party id in parties is refused. Given a pool or a connection (*sqlx.DB, *sqlx.Conn, or
// database/sql's *sql.DB, *sql.Conn), it runs in a transaction of its
// own, which lib/pq begins READ WRITE: outside one, a DBA's
// default_transaction_read_only = on would refuse the update. So a
// connection must not be in a transaction begun with a BEGIN statement:
// lib/pq refuses to begin another on it ("unexpected transaction status
// idle in transaction") and ends its session, that transaction and the
// session's advisory locks with it; use a *sqlx.Tx or *sql.Tx instead.
func (s *Store) SetParties(ctx context.Context, db sqlx.ExecerContext, from, parties []string) error {
	if err := checkParties(parties); err != nil {
		return fmt.Errorf("checkpoint: record parties: %w", err)
	}
	if b, ok := db.(interface {
		BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
	}); ok { // *sql.DB, *sql.Conn, and sqlx's, which embed them
		tx, err := b.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			return fmt.Errorf("checkpoint: record parties: %w", ctxerr.Wrap(ctx, err))
		}
		defer func() { _ = tx.Rollback() }() // no-op after Commit
		if err := s.setParties(ctx, tx, from, parties); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("checkpoint: record parties: %w", ctxerr.Wrap(ctx, err))
		}
		return nil
	}
	return s.setParties(ctx, db, from, parties)
}

// setParties is SetParties in db.
func (s *Store) setParties(ctx context.Context, db sqlx.ExecerContext, from, parties []string) error {
	// Parties recorded already (the same call again, after an unknown
	// outcome of its COMMIT: a connection lost before its reply) are no
	// conflict: the update changes nothing then.
	res, err := db.ExecContext(ctx, `UPDATE `+s.checkpoint+` SET parties = $1
		WHERE id = 1 AND (COALESCE(parties, '{}') @> COALESCE($2::text[], '{}') AND COALESCE(parties, '{}') <@ COALESCE($2::text[], '{}')
			OR COALESCE(parties, '{}') @> COALESCE($1::text[], '{}') AND COALESCE(parties, '{}') <@ COALESCE($1::text[], '{}'))`,
		partiesArray(parties), partiesArray(from))
	if err != nil {
		return fmt.Errorf("checkpoint: record parties: %w", ctxerr.Wrap(ctx, err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("checkpoint: record parties %q: %w (or no checkpoint stored): they are no longer %q", NormalizeParties(parties), ErrPartiesConflict, NormalizeParties(from))
	}
	return nil
}

// ErrPartiesConflict means the parties recorded with the checkpoint were not
// the ones the writer read (SetParties): another ingester recorded its own
// meanwhile.
var ErrPartiesConflict = errors.New("checkpoint: the recorded parties changed underneath (another ingester recorded its own?)")

// checkParties refuses an empty party id, which ingest.Config and
// recovery.Options refuse too: recorded, it would be compared with every
// later ingester's parties.
func checkParties(parties []string) error {
	if slices.Contains(parties, "") {
		return fmt.Errorf("parties %q hold an empty party id", parties)
	}
	return nil
}

// partiesArray is parties as stored: normalised, NULL for none.
func partiesArray(parties []string) any {
	if len(parties) == 0 {
		return nil
	}
	return pq.StringArray(NormalizeParties(parties))
}

// AdvanceTx moves the checkpoint from prevOffset to next, inside the batch's
// transaction. It fails with ErrConflict if the stored offset is not
// prevOffset, and refuses to move backwards (rewinds go through RewindTx).
// Per-synchronizer record times only ever grow.
func (s *Store) AdvanceTx(ctx context.Context, tx *sqlx.Tx, prevOffset int64, next Checkpoint) error {
	if next.Offset < prevOffset {
		return fmt.Errorf("checkpoint: refusing to move backwards from offset %d to %d", prevOffset, next.Offset)
	}
	var rt, uoff any
	if !next.RecordTime.IsZero() {
		rt = next.RecordTime
	}
	if next.UpdateOffset > 0 {
		uoff = next.UpdateOffset
	}
	// One statement, one round trip per batch: the synchronizers' record
	// times are only written if the optimistic check let the UPDATE through.
	ids, ts := timesArrays(next.RecordTimes)
	var n int
	err := tx.GetContext(ctx, &n, `WITH advanced AS (
			UPDATE `+s.checkpoint+`
			SET ledger_offset = $2, update_id = $3, record_time = $4, synchronizer_id = $5, update_offset = $6, updated_at = now()
			WHERE id = 1 AND ledger_offset = $1
			RETURNING 1
		), times AS (
			INSERT INTO `+s.syncTime+` AS t (synchronizer_id, record_time, ledger_offset)
			SELECT u.id, u.rt, $2 FROM unnest($7::text[], $8::timestamptz[]) AS u(id, rt)
			WHERE EXISTS (SELECT 1 FROM advanced)
			ON CONFLICT (synchronizer_id) DO UPDATE
			SET record_time = GREATEST(t.record_time, EXCLUDED.record_time), ledger_offset = EXCLUDED.ledger_offset
		)
		SELECT count(*) FROM advanced`,
		prevOffset, next.Offset, next.UpdateID, rt, next.SynchronizerID, uoff, ids, ts)
	if err != nil {
		return fmt.Errorf("checkpoint: advance to offset %d: %w", next.Offset, ctxerr.Wrap(ctx, err))
	}
	if n != 1 {
		return fmt.Errorf("%w: expected offset %d", ErrConflict, prevOffset)
	}
	return nil
}

// timesArrays returns the synchronizers and their record times as arrays.
func timesArrays(times map[string]time.Time) (ids pq.StringArray, ts pq.GenericArray) {
	ids = make(pq.StringArray, 0, len(times))
	rts := make([]time.Time, 0, len(times))
	for id, t := range times {
		ids = append(ids, id)
		rts = append(rts, t)
	}
	return ids, pq.GenericArray{A: rts}
}

func (s *Store) upsertTimes(ctx context.Context, tx *sqlx.Tx, times map[string]time.Time, offset int64, overwrite bool) error {
	if len(times) == 0 {
		return nil
	}
	ids, ts := timesArrays(times)
	set := `record_time = GREATEST(t.record_time, EXCLUDED.record_time), ledger_offset = EXCLUDED.ledger_offset`
	if overwrite {
		set = `record_time = EXCLUDED.record_time, ledger_offset = EXCLUDED.ledger_offset`
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO `+s.syncTime+` AS t (synchronizer_id, record_time, ledger_offset)
		SELECT u.id, u.rt, $3 FROM unnest($1::text[], $2::timestamptz[]) AS u(id, rt)
		ON CONFLICT (synchronizer_id) DO UPDATE SET `+set,
		ids, ts, offset)
	if err != nil {
		return fmt.Errorf("checkpoint: store synchronizer record times: %w", ctxerr.Wrap(ctx, err))
	}
	return nil
}

// Rewind describes a move of the checkpoint to an earlier offset, as the
// validator node restore runbook does.
type Rewind struct {
	From, To int64
	// RecoveryTime is tRecovery (or tRecovery − 1µs), and SynchronizerID its synchronizer.
	RecoveryTime   time.Time
	SynchronizerID string
	// Mode names the runbook variant, e.g. "unique" or "non-unique".
	Mode string
	Note string
	// UpdateOffset, if not 0, is the offset at which the participant now
	// has the last ingested transaction, when the rewind resumes right
	// after it (nothing of it is replayed). 0 forgets it: a replay begins.
	UpdateOffset int64
}

// RewindTx moves the checkpoint to r.To (which may be any offset: after a
// participant restore, offsets mean something else), sets the offset of
// the last ingested transaction to r.UpdateOffset (0 forgets it: the
// Ingester then treats what follows as the replay after a rewind, see
// package ingest), sets the record time of
// r.SynchronizerID back to r.RecoveryTime so that ingestion accepts the
// transactions after it again, and writes an audit row. It fails with
// ErrConflict if the stored offset is not r.From.
func (s *Store) RewindTx(ctx context.Context, tx *sqlx.Tx, r Rewind) error {
	if r.To < 0 {
		return fmt.Errorf("checkpoint: invalid rewind target %d", r.To)
	}
	res, err := tx.ExecContext(ctx, `UPDATE `+s.checkpoint+` SET ledger_offset = $2, update_offset = NULLIF($3::bigint, 0), updated_at = now() WHERE id = 1 AND ledger_offset = $1`, r.From, r.To, r.UpdateOffset)
	if err != nil {
		return fmt.Errorf("checkpoint: rewind from %d to %d: %w", r.From, r.To, ctxerr.Wrap(ctx, err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: expected offset %d", ErrConflict, r.From)
	}
	if r.SynchronizerID != "" && !r.RecoveryTime.IsZero() {
		if err := s.upsertTimes(ctx, tx, map[string]time.Time{r.SynchronizerID: r.RecoveryTime}, r.To, true); err != nil {
			return err
		}
	}
	var rt any
	if !r.RecoveryTime.IsZero() {
		rt = r.RecoveryTime
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO `+s.rewind+` (from_offset, to_offset, recovery_time, synchronizer_id, mode, note) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.From, r.To, rt, r.SynchronizerID, r.Mode, r.Note)
	if err != nil {
		return fmt.Errorf("checkpoint: audit rewind: %w", ctxerr.Wrap(ctx, err))
	}
	return nil
}

// Rewinds returns the audit rows of past rewinds, oldest first, times in UTC.
func (s *Store) Rewinds(ctx context.Context, q sqlx.QueryerContext) ([]RewindRecord, error) {
	var out []RewindRecord
	err := sqlx.SelectContext(ctx, q, &out, `SELECT id, rewound_at, from_offset, to_offset, recovery_time, synchronizer_id, mode, note FROM `+s.rewind+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read rewinds: %w", ctxerr.Wrap(ctx, err))
	}
	for i := range out { // in UTC, whatever the session's TimeZone
		out[i].RewoundAt = out[i].RewoundAt.UTC()
		out[i].RecoveryTime.Time = out[i].RecoveryTime.Time.UTC()
	}
	return out, nil
}

// RewindRecord is one audit row of a rewind.
type RewindRecord struct {
	ID             int64        `db:"id"`
	RewoundAt      time.Time    `db:"rewound_at"`
	From           int64        `db:"from_offset"`
	To             int64        `db:"to_offset"`
	RecoveryTime   sql.NullTime `db:"recovery_time"`
	SynchronizerID string       `db:"synchronizer_id"`
	Mode           string       `db:"mode"`
	Note           string       `db:"note"`
}

// inTx runs fn in a transaction of its own, committed if fn returns nil.
// An error after ctx ended wraps ctx's error too (ctxerr.Wrap).
func inTx(ctx context.Context, db *sqlx.DB, fn func(*sqlx.Tx) error) (err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
