package withdrawal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/logattr"
	"github.com/cantonx/txhistory/internal/pgsetting"
	"github.com/jmoiron/sqlx"
)

// Gate is the state of the withdrawal gate. While it is closed, or
// rewound, Create refuses with ErrWithdrawalsDisabled and the Automation
// submits nothing. Migration 003_withdrawal creates it open ("opened by
// migration 003_withdrawal"): a new Integration DB takes withdrawals at
// once, of the holdings ingested so far. A deployment that wants none
// before ingestion has caught up closes it (Disable) right after
// schema.Migrate, and opens it (Enable, or EnableAfter) once caught up.
type Gate struct {
	Enabled bool
	// Reason is what the last change said, ChangedAt when it happened
	// (database clock).
	Reason    string
	ChangedAt time.Time
	// Rewound is true when the Store that read the gate has read a later
	// change of it before: the Integration DB was restored from a backup
	// and holds the gate of backup time (open, most likely), while the
	// restore procedure closed it in step 1. Such a gate counts as closed
	// until it changes again (step 2 of RestoreProcedure closes it, step 4
	// opens it past tSafe): a request restored as requested may be one
	// whose transfer is already in flight. A Store that has not read the
	// gate since before step 1 cannot tell, and relies on the procedure's
	// locks (Restoring, RestoreWaiting) until it returns; stop the
	// Automation and the creation of withdrawals during the restore, as
	// the runbook says. (If
	// the database clock goes back, as on a restore onto a server whose
	// clock is behind the old one's, or a transaction that changed the gate
	// and read it rolls back, the gate counts as closed until a change
	// later than the latest this Store read, by the database clock: with a
	// clock an hour behind, for an hour. That fails safe; a new Store, in a
	// restarted process, forgets what the old one read.)
	Rewound bool
	// Restoring is true when a RestoreProcedure is between its step 1 and
	// its closing of the restored gate in step 2, the span of the restore
	// itself: Create and the Automation's submissions, which read the gate
	// with it, count the gate as closed then, whatever its row says (the
	// backup's, open, once pg_restore has committed). The other fields
	// are then zero: the row is not read, as pg_restore may hold its
	// table. Gate and GateTx do not look (always false).
	Restoring bool
	// RestoreWaiting is true when a RestoreProcedure has closed the
	// restored gate in step 2 and has not returned yet (step 3's wait for
	// tSafe, step 4's opening): Create and the Automation's submissions,
	// which read the gate with it, count the gate as closed then, whatever
	// its row says. Its row is the procedure's closure, unless the
	// database was restored again meanwhile: then it is the backup's
	// (open, most likely) until the procedure's next read of it closes it
	// again, and a Store that has not read the gate since step 1 could not
	// tell (Rewound). Or someone opened it by hand meanwhile (Enable,
	// EnableAfter): it still counts as closed until the procedure returns,
	// which its step 4 does with an error, leaving the gate open; cancel
	// the procedure before opening the gate by hand. The other fields are
	// read as usual. Gate and GateTx do not look (always false).
	RestoreWaiting bool
}

// Open reports whether withdrawals may be created and submitted: the gate
// is enabled, not rewound, and no restore is under way.
func (g Gate) Open() bool { return g.Enabled && !g.Rewound && !g.Restoring && !g.RestoreWaiting }

// why says why a gate is not open: the reason of the change that closed
// it, or that it was rewound.
func (g Gate) why() string {
	if g.Restoring {
		return "the Integration DB restore procedure is restoring the database (between its step 1 and its closing of the restored gate)"
	}
	if g.Enabled && g.RestoreWaiting && !g.Rewound {
		// The Store cannot tell which: the gate's row and its log are the
		// backup's after a restore.
		return fmt.Sprintf("the gate is open as of %s (%q), but the Integration DB restore procedure, which closed it, has not opened it: "+
			"the database was restored again since its step 2, or the gate was opened by hand meanwhile (cancel the procedure first); "+
			"waiting for the procedure to close it again, or to return", g.ChangedAt.Format(time.RFC3339Nano), g.Reason)
	}
	if g.Enabled && g.Rewound {
		return fmt.Sprintf("the gate is open as of %s, but this process saw it change later: the Integration DB was restored from a backup; waiting for the restore procedure to close and reopen it",
			g.ChangedAt.Format(time.RFC3339Nano))
	}
	return g.Reason
}

// sawGate records a read of the gate changed at t and reports whether the
// Store had read a later change before.
func (s *Store) sawGate(t time.Time) (rewound bool) {
	n := t.UnixNano()
	for {
		cur := s.gateSeen.Load()
		if n < cur {
			return true
		}
		if n == cur || s.gateSeen.CompareAndSwap(cur, n) {
			return false
		}
	}
}

// GateChange is one row of the gate's audit trail.
type GateChange struct {
	ID        int64
	Enabled   bool
	Reason    string
	ChangedAt time.Time
	// IngestedRecordTime is the store's clock (see Store.IngestedTime) when
	// the gate changed (for RestoreProcedure's opening, the record time it
	// waited on: see RestoreProgress.Ingested); zero if nothing was
	// ingested.
	IngestedRecordTime time.Time
	// TSafe is the record time an opening by EnableAfter waited for; zero
	// otherwise.
	TSafe time.Time
}

// restoreLockClass is the first key of the advisory lock a
// RestoreProcedure holds, exclusively, from before its step 1 closes the
// gate until step 2 has closed the restored gate (holdRestoreLock), and
// restoreWaitClass that of the lock it holds from before its step 1 until
// it returns (the gate opened by step 4, or closed again after a
// failure). Create, the Automation's submissions and MarkFailedTx try
// both in share mode in their transaction, before anything else they
// read (restoreLocks). Unlike the
// gate's row they survive pg_restore, which gives the database the
// backup's gate (open) until step 2, or, restored again during step 3 or
// 4, until the procedure's next read of the gate: without them, a Store
// that had not read the gate since step 1 could not tell (Gate.Rewound)
// and would create and submit on the restored database, handing over
// again requests the backup holds but whose transfers were submitted
// after it. The second key is hashtext of the gate table's qualified name,
// one lock per schema.
const (
	restoreLockClass = 0x74787273 // "txrs"
	restoreWaitClass = 0x74787277 // "txrw"
)

// readGate reads the gate's row; lock, for a writer (Create and the
// Automation's submissions), in share mode until the transaction of q
// ends, with waiting the wait lock its restoreLocks found taken
// (Gate.RestoreWaiting). Such a writer tries the restore locks first
// (restoreLocks), before its check of the schema's version, and reads the
// gate only if no restore is under way (Gate.Restoring).
func (s *Store) readGate(ctx context.Context, q sqlx.QueryerContext, lock, waiting bool) (Gate, error) {
	var row struct {
		Enabled   bool      `db:"enabled"`
		Reason    string    `db:"reason"`
		ChangedAt time.Time `db:"changed_at"`
	}
	query := `SELECT enabled, reason, changed_at FROM ` + s.gate + ` WHERE id = 1`
	if lock {
		query += ` FOR SHARE`
	}
	err := sqlx.GetContext(ctx, q, &row, query)
	if errors.Is(err, sql.ErrNoRows) {
		return Gate{}, fmt.Errorf("withdrawal: the withdrawal gate row is missing from %s (was migration 003_withdrawal applied?)", s.gate)
	}
	if err != nil {
		return Gate{}, fmt.Errorf("withdrawal: reading the withdrawal gate: %w", ctxerr.Wrap(ctx, err))
	}
	g := Gate{Enabled: row.Enabled, Reason: row.Reason, ChangedAt: row.ChangedAt.UTC(), RestoreWaiting: waiting}
	g.Rewound = s.sawGate(g.ChangedAt)
	return g, nil
}

// restoreLocks tries the RestoreProcedure's locks in share mode, held
// until the transaction of q ends, so that the procedure's taking them
// waits for the writes in flight, as its Disable does: restoring, the
// restore lock is taken (a restore is under way, and the tables may be
// pg_restore's to drop and create again); waiting, the wait lock is (the
// procedure has closed the restored gate but not opened it yet). A lock
// not free is not held. It reads no table: the writers (Create, the
// Automation's submissions, MarkFailedTx) try the locks first, before
// their check of the schema's version, which reads the migration table,
// so that a restore under way refuses them at once. After that check
// they would wait behind pg_restore, which holds the tables it drops
// (the migration table among them) until it commits, and a transaction
// of the exchange holding a table pg_restore drops (it read the
// withdrawal table, say) would deadlock with it (SQLSTATE 40P01: the
// exchange's call fails, or pg_restore).
func (s *Store) restoreLocks(ctx context.Context, q sqlx.QueryerContext) (restoring, waiting bool, err error) {
	var free struct {
		Restore bool `db:"restore"`
		Wait    bool `db:"wait"`
	}
	if err := sqlx.GetContext(ctx, q, &free, `SELECT pg_try_advisory_xact_lock_shared($1, hashtext($3)) AS restore,
		pg_try_advisory_xact_lock_shared($2, hashtext($3)) AS wait`, restoreLockClass, restoreWaitClass, s.gate); err != nil {
		return false, false, ctxerr.Wrap(ctx, err)
	}
	return !free.Restore, !free.Wait, nil
}

// Gate returns the state of the withdrawal gate.
func (s *Store) Gate(ctx context.Context) (Gate, error) { return s.readGate(ctx, s.db, false, false) }

// GateTx is Gate inside the caller's transaction.
func (s *Store) GateTx(ctx context.Context, tx *sqlx.Tx) (Gate, error) {
	return s.readGate(ctx, tx, false, false)
}

// Disable closes the withdrawal gate, in a transaction of its own. See
// DisableTx.
func (s *Store) Disable(ctx context.Context, reason string) error {
	return s.inTx(ctx, "", func(tx *sqlx.Tx) error { return s.DisableTx(ctx, tx, reason) })
}

// DisableTx closes the withdrawal gate inside the caller's transaction,
// with one statement that also writes the audit row. It first waits for
// creates and automation submissions in flight (they hold the gate in
// share mode until their transaction ends); those that start meanwhile wait
// for it and then find the gate closed. Once the transaction commits, no
// Create commits and the Automation submits nothing until the gate is
// opened again. Closing a closed gate is not an error (it is audited
// again). Unlike the other Store writers, it does not check the schema's
// version: it closes the gate of a schema a newer release migrated (an
// operator's brake, whatever release its tool is of) and of one this
// release has not migrated yet (an older backup restored, which
// RestoreProcedure closes before its migration). Its waits are bounded by
// ctx only: it turns a lock_timeout and statement_timeout of the role or
// database off for the change (the wait for the gate, and for the
// checkpoint table a migration running meanwhile may hold), and sets them
// back in tx after it. On an error, roll tx back: it may be aborted, or,
// should ctx end between the change and the setting back, left with both
// still off.
func (s *Store) DisableTx(ctx context.Context, tx *sqlx.Tx, reason string) error {
	_, _, err := s.setGate(ctx, tx, gateChange{reason: reason})
	return err
}

// Enable opens the withdrawal gate, in a transaction of its own. See
// EnableTx.
func (s *Store) Enable(ctx context.Context, reason string) error {
	return s.inTx(ctx, "", func(tx *sqlx.Tx) error { return s.EnableTx(ctx, tx, reason) })
}

// EnableTx opens the withdrawal gate inside the caller's transaction, in
// one statement that also writes the audit row, whatever the ingested
// record time. After restoring the Integration DB use EnableAfter (or
// RestoreProcedure), which opens only once tSafe has passed. While a
// RestoreProcedure runs on the schema, Create and the Automation count a
// gate opened so as closed until the procedure returns
// (Gate.RestoreWaiting): cancel it first. Like CreateTx, it
// refuses a schema not at this build's version
// (schema.ErrUnknownVersion, schema.ErrNotMigrated).
func (s *Store) EnableTx(ctx context.Context, tx *sqlx.Tx, reason string) error {
	_, _, err := s.setGate(ctx, tx, gateChange{enabled: true, reason: reason})
	return err
}

// EnableAfter opens the withdrawal gate if the ingested record time (the
// store's clock, read from the checkpoint in the same transaction) is past
// tSafe and no transaction set aside for review is unresolved, in a
// transaction of its own. See EnableAfterTx.
func (s *Store) EnableAfter(ctx context.Context, tSafe time.Time, reason string) (opened bool, ingested time.Time, err error) {
	err = s.inTx(ctx, "", func(tx *sqlx.Tx) error {
		opened, ingested, err = s.EnableAfterTx(ctx, tx, tSafe, reason)
		return err
	})
	return opened, ingested, err
}

// EnableAfterTx opens the withdrawal gate inside the caller's transaction
// if, and only if, the ingested record time is after tSafe and no
// transaction set aside for review is unresolved (review_transaction's
// resolved_at NULL: one may be the transfer of a withdrawal lost in the
// restore, which the Reconciler has not seen, as it expires nothing
// then). It first waits for the gate row (creates and submissions in
// flight hold it in share mode), then reads the ingested record time; the
// check, the change and the audit row (with the ingested record time and
// tSafe) are one statement after that read, so that a rewind of the
// checkpoint, or a transaction set aside, that commits while it waits is
// seen. It reports whether it opened the gate and the ingested record time
// it compared. As for EnableTx, a RestoreProcedure running on the schema
// keeps the gate counted as closed until it returns. Like CreateTx, it
// refuses a schema not at this build's version (schema.ErrUnknownVersion,
// schema.ErrNotMigrated).
func (s *Store) EnableAfterTx(ctx context.Context, tx *sqlx.Tx, tSafe time.Time, reason string) (bool, time.Time, error) {
	if tSafe.IsZero() {
		return false, time.Time{}, errors.New("withdrawal: EnableAfter: tSafe is zero")
	}
	return s.setGate(ctx, tx, gateChange{enabled: true, reason: reason, tSafe: tSafe})
}

// enableAfterUnchanged is EnableAfter that opens only if the gate's last
// change is still the one at changedAt (the restore procedure's own
// closure), in the same statement, and whose clock is also bounded by the
// record times of the synchronizers also and of those of the withdrawals
// recovered since recoveredSince (see restoreClock). If it opened the
// gate, enabledAt is the time of the opening, read in its transaction.
func (s *Store) enableAfterUnchanged(ctx context.Context, tSafe, changedAt time.Time, also []string, recoveredSince time.Time, reason string) (opened bool, ingested, enabledAt time.Time, err error) {
	err = s.inTx(ctx, "", func(tx *sqlx.Tx) error {
		opened, ingested, err = s.setGate(ctx, tx, gateChange{enabled: true, reason: reason, tSafe: tSafe,
			unchanged: changedAt, also: also, recoveredSince: recoveredSince})
		if err != nil || !opened {
			return err
		}
		g, err := s.GateTx(ctx, tx)
		enabledAt = g.ChangedAt
		return err
	})
	return opened, ingested, enabledAt, err
}

// gateChange is a change of the gate setGate makes; its zero values
// (but enabled and reason) leave the change unconditional.
type gateChange struct {
	enabled bool   // open (true) or close the gate
	reason  string // the audit row's
	// tSafe, if not zero: open only if the ingested record time is after
	// it and no transaction set aside is unresolved.
	tSafe time.Time
	// unchanged, if not zero: change only if the gate's last change is
	// still the one at this time.
	unchanged time.Time
	// also and recoveredSince bound the ingested record time (restoreClock)
	// by the record times of the synchronizers also and, if recoveredSince
	// is not zero, of those of the withdrawals recovered since then.
	also           []string
	recoveredSince time.Time
}

// setGate makes the change c and audits it in one statement. The ingested
// record time it compares with c.tSafe, and reports, is the store's clock
// bounded as c says. Opening refuses a schema not at this build's
// version; closing, the brake, does not check it (see DisableTx).
func (s *Store) setGate(ctx context.Context, tx *sqlx.Tx, c gateChange) (bool, time.Time, error) {
	enabled, reason, tSafe, also := c.enabled, c.reason, c.tSafe, c.also
	if enabled {
		if err := s.checkSchema(ctx, tx, "opening the withdrawal gate"); err != nil {
			return false, time.Time{}, err
		}
	}
	var ts, since any
	if !tSafe.IsZero() {
		ts = normTime(tSafe)
	}
	if !c.unchanged.IsZero() {
		since = c.unchanged
	}
	// Wait for the gate (creates and submissions in flight hold it in
	// share mode) before reading the clock and the review rows: what
	// commits during the wait, a rewind of the checkpoint or a transaction
	// set aside, is then seen. An UPDATE that waits for the row rechecks
	// the row, not the clock read before it nor its own subqueries.
	lock := `SELECT 1 FROM ` + s.gate + ` WHERE id = 1 FOR NO KEY UPDATE`
	if !enabled {
		// Table-level, so that creates and submissions arriving while
		// Disable waits for those in flight queue behind it (row share
		// locks alone would let them overtake it indefinitely).
		lock = `LOCK TABLE ` + s.gate + ` IN EXCLUSIVE MODE`
	}
	restore := func(context.Context) error { return nil }
	if !enabled {
		// The closing waits for the creates and submissions in flight,
		// bounded by ctx only: a DBA's lock_timeout or statement_timeout
		// of the role or database would end the wait after a submission
		// outlasting it, and the brake (the restore procedure's closing of
		// a restored gate among them) would fail. Off for the change's
		// statements (the lock, the clock's read and the update, which a
		// migration altering the checkpoint table holds up as well: the
		// closing takes no migration lock), then set back for the rest of
		// tx.
		var err error
		if restore, err = pgsetting.Off(ctx, tx, "lock_timeout", "statement_timeout"); err != nil {
			return false, time.Time{}, fmt.Errorf("withdrawal: locking the withdrawal gate: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, lock); err != nil {
		return false, time.Time{}, fmt.Errorf("withdrawal: locking the withdrawal gate: %w", err)
	}
	// The store's clock, read in the change's transaction once the gate
	// is locked (Store.clock is the one rule for it).
	times, err := s.recordTimes(ctx, tx)
	if err != nil {
		return false, time.Time{}, err
	}
	if !c.recoveredSince.IsZero() {
		// Read after the record times: a recovery committed with them is
		// seen.
		more, err := s.recoveredSynchronizers(ctx, tx, c.recoveredSince)
		if err != nil {
			return false, time.Time{}, err
		}
		also = append(slices.Clone(also), more...)
	}
	var clock any
	if t := s.restoreClock(times, also); !t.IsZero() {
		clock = normTime(t)
	}
	// changed_at is the time of the UPDATE, not of the transaction's start
	// (now()): the row lock then orders the changes' times as their
	// commits, which Gate.Rewound relies on.
	var out struct {
		ChangedAt sql.NullTime `db:"changed_at"`
		Ingested  sql.NullTime `db:"ingested"`
	}
	err = tx.GetContext(ctx, &out, `WITH clock AS (SELECT $4::timestamptz AS t), moved AS (
			UPDATE `+s.gate+` SET enabled = $1, reason = $2, changed_at = clock_timestamp()
			WHERE id = 1 AND ($3::timestamptz IS NULL OR ((SELECT t FROM clock) > $3::timestamptz
				AND NOT `+s.reviewHeld()+`)) AND ($5::timestamptz IS NULL OR changed_at = $5::timestamptz)
			RETURNING changed_at
		), logged AS (
			INSERT INTO `+s.gateLog+` (enabled, reason, changed_at, ingested_record_time, tsafe)
			SELECT $1, $2, moved.changed_at, (SELECT t FROM clock), $3::timestamptz FROM moved
		)
		SELECT (SELECT changed_at FROM moved) AS changed_at, (SELECT t FROM clock) AS ingested`,
		enabled, reason, ts, clock, since)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("withdrawal: setting the withdrawal gate to enabled=%t: %w", enabled, err)
	}
	if err := restore(ctx); err != nil {
		return false, time.Time{}, fmt.Errorf("withdrawal: setting the withdrawal gate to enabled=%t: %w", enabled, err)
	}
	var ingested time.Time
	if out.Ingested.Valid {
		ingested = out.Ingested.Time.UTC()
	}
	if out.ChangedAt.Valid {
		state := "closed"
		if enabled {
			state = "opened"
		}
		s.log.Info("withdrawal: gate "+state, logattr.Known("reason", reason, "ingested_record_time", ingested, "tsafe", tSafe)...)
	}
	return out.ChangedAt.Valid, ingested, nil
}

// GateLog returns the audit trail of the gate, oldest first: every
// change by Disable, Enable and the restore procedure. The gate's state
// before the first change, open as migration 003 created it, has no row;
// an empty log means the gate was never changed.
func (s *Store) GateLog(ctx context.Context) ([]GateChange, error) {
	return s.gateLogRows(ctx, ` ORDER BY id`)
}

// gateLogRows reads the rows of the gate's audit trail in the order (and
// limit) order says.
func (s *Store) gateLogRows(ctx context.Context, order string) ([]GateChange, error) {
	var rows []struct {
		ID        int64        `db:"id"`
		Enabled   bool         `db:"enabled"`
		Reason    string       `db:"reason"`
		ChangedAt time.Time    `db:"changed_at"`
		Ingested  sql.NullTime `db:"ingested_record_time"`
		TSafe     sql.NullTime `db:"tsafe"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, enabled, reason, changed_at, ingested_record_time, tsafe FROM `+
		s.gateLog+order); err != nil {
		return nil, fmt.Errorf("withdrawal: reading the gate log: %w", ctxerr.Wrap(ctx, err))
	}
	out := make([]GateChange, len(rows))
	for i, r := range rows {
		out[i] = GateChange{ID: r.ID, Enabled: r.Enabled, Reason: r.Reason, ChangedAt: r.ChangedAt.UTC()}
		if r.Ingested.Valid {
			out[i].IngestedRecordTime = r.Ingested.Time.UTC()
		}
		if r.TSafe.Valid {
			out[i].TSafe = r.TSafe.Time.UTC()
		}
	}
	return out, nil
}

// lastGateChange returns the latest row of the gate's audit trail, or nil
// if there is none.
func (s *Store) lastGateChange(ctx context.Context) (*GateChange, error) {
	rows, err := s.gateLogRows(ctx, ` ORDER BY id DESC LIMIT 1`)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// reviewHeld is the SQL condition that a transaction set aside for review
// is unresolved: one may be a withdrawal's transfer that no one has seen, so
// nothing expires and the gate does not open after a restore meanwhile.
func (s *Store) reviewHeld() string {
	return `EXISTS (SELECT 1 FROM ` + s.review + ` WHERE resolved_at IS NULL)`
}

// unresolvedReview counts the transactions set aside for review that are
// not resolved.
func (s *Store) unresolvedReview(ctx context.Context) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM `+s.review+` WHERE resolved_at IS NULL`); err != nil {
		return 0, fmt.Errorf("withdrawal: counting the transactions set aside for review: %w", err)
	}
	return n, nil
}

// holdRestoreLock takes the restore locks (restoreWaitClass, then
// restoreLockClass) exclusively in a transaction of its own, on a
// connection of its own, and returns what releases them: restored
// releases the restore lock (restoreLockClass) alone, once the restored
// gate is closed (the wait lock stays held: Gate.RestoreWaiting), release
// both. It waits, bounded by ctx only (a DBA's lock_timeout and
// statement_timeout are off for it), for the creates and submissions in
// flight, as Disable does. The transaction is READ COMMITTED and idle
// between its statements, so it holds no snapshot back from VACUUM; its
// idle_in_transaction_session_timeout is off, for a restore and the wait
// for tSafe may take hours. It ends when release is called, not when ctx
// ends: the procedure releases it once step 4 has opened the gate (before
// reporting it), or when it returns after a failure (ctx ended while
// Restore winds down, perhaps on the backup's open gate, is such a
// failure). It also ends with
// the session: a Restore that terminates the database's sessions ends it
// too, and the procedure is then as safe as without it (Gate.Rewound).
//
// The locks hold one of the pool's connections until the procedure
// returns (with an Ingester on a pool of three, its batches no longer
// overlap meanwhile). With a pool of one connection (SetMaxOpenConns(1))
// the procedure's own statements would wait for it forever, and with two
// so would they and the batches of an Ingester on the same pool (started
// again by Restore, or left running), whose lock holds the other (ingest
// allows a pool of two): it goes without the locks and says so (ok
// false). It calls waiting before it waits for the wait lock, if it is
// taken: by creates and submissions in flight for a moment, or by another
// RestoreProcedure on the schema until it returns.
func (s *Store) holdRestoreLock(ctx context.Context, waiting func()) (release, restored func(), ok bool, err error) {
	if n := s.db.Stats().MaxOpenConnections; n > 0 && n <= 2 {
		return func() {}, func() {}, false, nil
	}
	// database/sql rolls a transaction back when the context it began
	// with ends: not ctx, which bounds the statements below only.
	tx, err := s.db.BeginTxx(context.WithoutCancel(ctx), &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, nil, false, fmt.Errorf("withdrawal: taking the restore lock: %w", ctxerr.Wrap(ctx, err))
	}
	// waiting reports to the caller (a RestoreProcedure's Progress and
	// Logger, the exchange's code), which may panic: tx, its timeouts off,
	// would then stay open for good, a connection of the pool idle in
	// transaction holding a snapshot back from VACUUM. Unless the lock is
	// handed over, it is rolled back on the way out.
	defer func() {
		if !ok {
			_ = tx.Rollback()
		}
	}()
	fail := func(what string, err error) (func(), func(), bool, error) {
		_ = tx.Rollback()
		return nil, nil, false, fmt.Errorf("withdrawal: taking the restore lock%s: %w", what, ctxerr.Wrap(ctx, err))
	}
	if _, err := pgsetting.Off(ctx, tx, "lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout"); err != nil {
		return fail("", err)
	}
	var free bool
	if err := tx.GetContext(ctx, &free, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, restoreWaitClass, s.gate); err != nil {
		return fail("", err)
	}
	if !free {
		waiting()
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, restoreWaitClass, s.gate); err != nil {
			return fail(" (waiting for the creates and submissions in flight, or another RestoreProcedure)", err)
		}
	}
	// The restore lock is taken in a savepoint, so that rolling back to
	// it releases that lock alone (and the settings above stay). Creates
	// and submissions in flight hold it only with the wait lock, which is
	// ours now: the wait is theirs, a moment.
	if _, err := tx.ExecContext(ctx, `SAVEPOINT txhistory_restore_lock`); err != nil {
		return fail("", err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, restoreLockClass, s.gate); err != nil {
		return fail(" (waiting for the creates and submissions in flight)", err)
	}
	// A parameterised statement (the extended protocol) leaves the
	// session's xmin set until its next statement: one without parameters
	// (the simple protocol), which clears it, so that the transaction
	// idles without one.
	if _, err := tx.ExecContext(ctx, `SELECT 1`); err != nil {
		return fail("", err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback() }) }
	// Without parameters too. Should it fail, the restore lock stays held
	// until release (Create refuses a moment longer) or is gone with the
	// session: nothing to undo either way.
	restored = func() { _, _ = tx.Exec(`ROLLBACK TO SAVEPOINT txhistory_restore_lock`) }
	return release, restored, true, nil
}
