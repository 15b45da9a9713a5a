package withdrawal

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// The tables of migration 003_withdrawal, inside the configured schema.
const (
	// Table holds the withdrawal requests.
	Table = "withdrawal"
	// ReservationTable holds the holdings open withdrawals have reserved.
	ReservationTable = "withdrawal_reservation"
	// GateTable holds the withdrawal gate (one row).
	GateTable = "withdrawal_gate"
	// GateLogTable holds the audit trail of gate changes.
	GateLogTable = "withdrawal_gate_log"
)

// Refunder is the exchange's hook that gives a withdrawal's reserved user
// funds back to the user when the withdrawal ends without paying out:
// failed, expired, rejected or withdrawn.
//
// Refund is called exactly once per such withdrawal, in the SQL
// transaction that moves it to its final status (the ingestion batch's, or
// the caller's for MarkFailedTx), right after that status change, so the
// credit commits with it or not at all. It must use tx and must not commit
// or roll it back; an error aborts that transaction. What it writes must
// live in the Integration DB and be restored with it, as a
// tokenstd.DepositCrediter's: the replay after an Integration DB restore
// refunds again what ended after the backup's checkpoint. For a withdrawal
// re-created by the RecoveryHook, UserAccount and ReservedFunds are what the
// hook filled in: blank for the default hook. Calls come from one goroutine
// per transaction, but the ingester and the automation may call it
// concurrently in their own transactions.
type Refunder interface {
	Refund(ctx context.Context, tx *sqlx.Tx, w *Withdrawal) error
}

// RefundFunc adapts a function to the Refunder interface.
type RefundFunc func(ctx context.Context, tx *sqlx.Tx, w *Withdrawal) error

// Refund calls f.
func (f RefundFunc) Refund(ctx context.Context, tx *sqlx.Tx, w *Withdrawal) error {
	return f(ctx, tx, w)
}

// Config configures a Store. Zero fields take the documented defaults.
type Config struct {
	// Schema holding the txhistory tables (migrated with schema.Migrate).
	// Default schema.DefaultName.
	Schema string
	// Treasury, if set, makes Create refuse holdings owned by another
	// party. Default "": the holding set holds only the treasury's holdings
	// anyway (tokenstd.History keeps no others).
	Treasury string
	// IsWithdrawalID tells a withdrawal id from other text: Create refuses
	// ids it rejects, and the Reconciler ignores treasury transfers whose
	// reason it rejects (operational transfers that are not withdrawals).
	// Default DefaultWithdrawalID. A stricter test, such as a prefix the
	// exchange gives all its withdrawal ids, keeps unrelated transfers out
	// of the withdrawal records.
	IsWithdrawalID func(id string) bool
	// Refunder, if set, credits user funds back (see Refunder). One holding
	// a nil func or pointer is refused.
	Refunder Refunder
	// Synchronizer is the synchronizer whose ingested record time is the
	// clock for trecTgt and tSafe, for withdrawals that name none. Default
	// "": see Synchronizers. Set it when the treasury uses one
	// synchronizer, or has left one whose record time no longer moves.
	Synchronizer string
	// Synchronizers, when Synchronizer is empty, lists every synchronizer
	// a withdrawal naming none may commit its transfer on: the clock is the
	// earliest record time ingested on them, and unknown (nothing expires,
	// EnableAfter and the restore procedure's gate wait) while one of them
	// has no record time ingested yet (expiry, the Reconciler, the
	// Automation and IngestedTime then warn, at most once a minute, naming
	// them: a wrong id would stop expiry for good). A
	// withdrawal is then expired only when none of them can still commit
	// its transfer.
	//
	// Default empty: the earliest record time ingested on any synchronizer
	// seen so far, in the treasury's transactions or in OffsetCheckpoints
	// (which may name every synchronizer the participant is connected to,
	// used by the treasury or not: one whose time stops moving, a
	// synchronizer the participant left, holds the clock back until
	// Synchronizer or Synchronizers leave it out). A synchronizer nothing
	// has been ingested of yet (say a new one, or after an Integration DB
	// restore one first used after the backup) does not hold the clock back,
	// and a transfer the participant delivers on it after another
	// synchronizer's time passed trecTgt (offsets do not follow record
	// times across synchronizers) meets a withdrawal already expired and
	// refunded. A treasury on more than one synchronizer should list them
	// (or name each request's, Request.SynchronizerID: RestoreProcedure
	// then waits only for the store's clock, the synchronizers its
	// restored withdrawals in flight name and those of the lost ones
	// recovered meanwhile, not for one only lost requests not recovered
	// yet used).
	Synchronizers []string
	// Instruments, if not empty, are the only instruments Create takes a
	// withdrawal of. Give it the list of tokenstd.Config.Instruments:
	// ingestion ignores the transfers of any other instrument, so a
	// withdrawal of one would never be seen paid, would expire and be
	// refunded (the user paid twice). NewReconciler refuses a History whose
	// list differs. Withdrawals already in flight are not checked: let those
	// of an instrument finish before leaving it out (docs/OPERATIONS.md).
	// Default empty: every instrument.
	Instruments []tokenstd.Instrument
	// Logger receives what the store, reconciler and automation do.
	// Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with empty fields filled.
func (c Config) WithDefaults() Config {
	if c.Schema == "" {
		c.Schema = schema.DefaultName
	}
	if c.IsWithdrawalID == nil {
		c.IsWithdrawalID = DefaultWithdrawalID
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Store reads and writes the withdrawal tables of one schema. It is safe
// for concurrent use. Every write has a form taking the caller's
// transaction (XTx) and one running its own (X); when the context of one
// running its own, or of a read (in either form), ends while a statement
// runs, its error wraps the context's too (errors.Is finds
// context.DeadlineExceeded or context.Canceled). Make one with NewStore;
// the zero Store is not usable.
type Store struct {
	db  *sqlx.DB
	cfg Config
	cps *checkpoint.Store
	log *slog.Logger

	withdrawals, reservations, gate, gateLog string
	holdings, history, review                string
	instructions                             string

	// gateSeen is the latest ChangedAt of the gate this Store has read
	// (Unix nanoseconds, database clock): a gate changed before it is a
	// restored one (Gate.Rewound).
	gateSeen atomic.Int64
	// clockWarned is when warnUnknownClock last warned (Unix ns).
	clockWarned atomic.Int64
}

// NewStore returns a store for db, whose schema must have been migrated
// (schema.Migrate).
func NewStore(db *sqlx.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("withdrawal: nil database")
	}
	cfg = cfg.WithDefaults()
	if err := schema.ValidateName(cfg.Schema); err != nil {
		return nil, fmt.Errorf("withdrawal: Config.Schema: %w", err)
	}
	if nilcheck.Holds(cfg.Refunder) {
		return nil, errors.New("withdrawal: Config.Refunder holds a nil func or pointer")
	}
	if cfg.Synchronizer != "" && len(cfg.Synchronizers) > 0 {
		return nil, errors.New("withdrawal: set Config.Synchronizer or Config.Synchronizers, not both")
	}
	if slices.Contains(cfg.Synchronizers, "") {
		return nil, errors.New("withdrawal: Config.Synchronizers holds an empty synchronizer id")
	}
	cfg.Synchronizers = slices.Compact(slices.Sorted(slices.Values(cfg.Synchronizers)))
	if err := tokenstd.CheckInstruments(cfg.Instruments); err != nil {
		return nil, fmt.Errorf("withdrawal: %w", err)
	}
	cfg.Instruments = slices.Clone(cfg.Instruments)
	cps, err := checkpoint.NewStore(cfg.Schema)
	if err != nil {
		return nil, err
	}
	q := func(t string) string { return schema.Qualify(cfg.Schema, t) }
	return &Store{
		db: db, cfg: cfg, cps: cps, log: cfg.Logger,
		withdrawals: q(Table), reservations: q(ReservationTable), gate: q(GateTable), gateLog: q(GateLogTable),
		holdings: q(tokenstd.HoldingTable), history: q(tokenstd.HistoryTable),
		review: q(tokenstd.ReviewTable), instructions: q(tokenstd.InstructionTable),
	}, nil
}

// DB returns the store's database.
func (s *Store) DB() *sqlx.DB { return s.db }

// Config returns the store's configuration, defaults filled in.
func (s *Store) Config() Config { return s.cfg }

// inTx runs fn in a transaction of its own: committed if fn returns nil,
// rolled back otherwise (a panic or runtime.Goexit in fn included).
func (s *Store) inTx(ctx context.Context, what string, fn func(tx *sqlx.Tx) error) error {
	return inTxOn(ctx, s.db, what, fn)
}

// checkSchema is schema.CheckCurrentTx in tx, the writers' first
// statement: a schema behind this build (schema.ErrNotMigrated) lacks what
// they write, and one a newer release migrated (schema.ErrUnknownVersion,
// during a rolling upgrade) is not this build's to write. The migration
// lock it holds shared until tx ends makes a migrator wait for tx.
func (s *Store) checkSchema(ctx context.Context, tx *sqlx.Tx, what string) error {
	if err := schema.CheckCurrentTx(ctx, tx, schema.WithSchema(s.cfg.Schema)); err != nil {
		return fmt.Errorf("withdrawal: %s: %w", what, err)
	}
	return nil
}

// inTxOn is inTx on db: the store's pool, or a connection taken from it.
// An error after ctx ended wraps ctx's error too (ctxerr.Wrap). what, if
// not empty, says what the transaction does (`creating "wd-1"`): the
// errors of its BEGIN and COMMIT name it, as fn's errors name what they
// concern.
func inTxOn(ctx context.Context, db interface {
	BeginTxx(context.Context, *sql.TxOptions) (*sqlx.Tx, error)
}, what string, fn func(tx *sqlx.Tx) error) (err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	if what != "" {
		what += ": "
	}
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("withdrawal: %sbegin: %w", what, err)
	}
	// fn may call the exchange's code (a Submitter, a Refunder): a panic
	// or runtime.Goexit there must not leave tx, and the locks it holds
	// (the gate row), open for as long as ctx lives.
	returned := false
	defer func() {
		if !returned {
			_ = tx.Rollback()
		}
	}()
	err = fn(tx)
	returned = true
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("withdrawal: %scommit: %w", what, err)
	}
	return nil
}

// pinnedConn is a connection of the pool that a caller holds for itself
// (Connx). database/sql retries a statement of the pool's own on another
// session when lib/pq finds its session ended, but hands a connection out
// of the pool as it is, and retries nothing on it: a DBA's
// idle_session_timeout ends the pool's idle sessions, which lib/pq notices
// only at their next use ("driver: bad connection"), and a statement that
// reaches the server as it ends one fails with "connection reset by peer".
// BeginTxx, whose BEGIN has no effect, takes another connection for such
// a session and begins again.
type pinnedConn struct {
	db   *sqlx.DB
	wait time.Duration // for a connection of the pool; zero: as long as ctx lives
	conn *sqlx.Conn
}

// take takes a connection of the pool, unless one is held.
func (p *pinnedConn) take(ctx context.Context) error {
	if p.conn != nil {
		return nil
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if p.wait > 0 {
		wctx, cancel = context.WithTimeout(ctx, p.wait)
	}
	defer cancel()
	c, err := p.db.Connx(wctx)
	if err != nil {
		return err
	}
	p.conn = c
	return nil
}

// BeginTxx begins a transaction on the connection held, taken first if
// none is; on another connection if its session turns out ended: each of
// the pool's idle connections may be, a new one should not.
func (p *pinnedConn) BeginTxx(ctx context.Context, opts *sql.TxOptions) (*sqlx.Tx, error) {
	attempts := p.db.Stats().Idle + 2
	for attempt := 1; ; attempt++ {
		if err := p.take(ctx); err != nil {
			return nil, err
		}
		tx, err := p.conn.BeginTxx(ctx, opts)
		if err == nil || attempt >= attempts || ctx.Err() != nil || !sessionEnded(err) {
			return tx, err
		}
		// Ended: not back to the pool.
		_ = p.conn.Raw(func(any) error { return driver.ErrBadConn })
		p.close()
	}
}

// close gives the connection held back to the pool.
func (p *pinnedConn) close() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
}

// sessionEnded reports whether err is a statement's failure on a session
// that the server ended, or that ended under it.
func sessionEnded(err error) bool {
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// begunTx hands inTxOn a transaction already begun.
type begunTx struct{ tx *sqlx.Tx }

func (b begunTx) BeginTxx(context.Context, *sql.TxOptions) (*sqlx.Tx, error) { return b.tx, nil }

// row is a withdrawal as stored.
type row struct {
	ID               string         `db:"id"`
	UserAccount      string         `db:"user_account"`
	Amount           string         `db:"amount"`
	InstrumentAdmin  string         `db:"instrument_admin"`
	InstrumentID     string         `db:"instrument_id"`
	Receiver         string         `db:"receiver"`
	ReservedHoldings pq.StringArray `db:"reserved_holdings"`
	ReservedFunds    string         `db:"reserved_funds"`
	TrecTgt          sql.NullTime   `db:"trec_tgt"`
	SynchronizerID   string         `db:"synchronizer_id"`
	Status           string         `db:"status"`
	Recovered        bool           `db:"recovered"`
	InstructionCID   string         `db:"instruction_cid"`
	UpdateID         string         `db:"update_id"`
	Offset           sql.NullInt64  `db:"ledger_offset"`
	RecordTime       sql.NullTime   `db:"record_time"`
	LedgerNodeID     sql.NullInt32  `db:"ledger_node_id"`
	LedgerSync       string         `db:"ledger_synchronizer_id"`
	Transferred      string         `db:"transferred"`
	Fee              string         `db:"fee"`
	FailureReason    string         `db:"failure_reason"`
	CreatedAt        time.Time      `db:"created_at"`
	UpdatedAt        time.Time      `db:"updated_at"`
	SubmittedAt      sql.NullTime   `db:"submitted_at"`
	SubmitAttempted  sql.NullTime   `db:"submit_attempted_at"`
	ClosedAt         sql.NullTime   `db:"closed_at"`
}

// columns selects a row; it works on the table and on a CTE returning it.
const columns = `id, user_account, amount::text AS amount, instrument_admin, instrument_id, receiver, reserved_holdings,
	reserved_funds::text AS reserved_funds, trec_tgt, synchronizer_id, status, recovered, instruction_cid, update_id,
	ledger_offset, record_time, ledger_node_id, ledger_synchronizer_id, transferred::text AS transferred, fee::text AS fee, failure_reason,
	created_at, updated_at, submitted_at, submit_attempted_at, closed_at`

func (r *row) withdrawal() (*Withdrawal, error) {
	w := &Withdrawal{
		Request: Request{
			ID: r.ID, UserAccount: r.UserAccount, Receiver: r.Receiver,
			Instrument:       tokenstd.Instrument{Admin: r.InstrumentAdmin, ID: r.InstrumentID},
			ReservedHoldings: []string(r.ReservedHoldings),
			SynchronizerID:   r.SynchronizerID,
		},
		Status: Status(r.Status), Recovered: r.Recovered, InstructionCID: r.InstructionCID, UpdateID: r.UpdateID,
		NodeID: -1, LedgerSynchronizerID: r.LedgerSync, FailureReason: r.FailureReason, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if len(w.ReservedHoldings) == 0 {
		w.ReservedHoldings = nil
	}
	for _, d := range []struct {
		s  string
		to *decimal.Decimal
	}{{r.Amount, &w.Amount}, {r.ReservedFunds, &w.ReservedFunds}, {r.Transferred, &w.Transferred}, {r.Fee, &w.Fee}} {
		v, err := decimal.NewFromString(d.s)
		if err != nil {
			return nil, fmt.Errorf("withdrawal: %q: amount %q: %w", r.ID, d.s, err)
		}
		*d.to = v
	}
	if r.TrecTgt.Valid {
		w.TrecTgt = r.TrecTgt.Time.UTC()
	}
	if r.Offset.Valid {
		w.Offset = r.Offset.Int64
	}
	if r.RecordTime.Valid {
		w.RecordTime = r.RecordTime.Time.UTC()
	}
	if r.LedgerNodeID.Valid {
		w.NodeID = r.LedgerNodeID.Int32
	}
	if r.SubmittedAt.Valid {
		t := r.SubmittedAt.Time.UTC()
		w.SubmittedAt = &t
	}
	if r.SubmitAttempted.Valid {
		t := r.SubmitAttempted.Time.UTC()
		w.SubmitAttemptedAt = &t
	}
	if r.ClosedAt.Valid {
		t := r.ClosedAt.Time.UTC()
		w.ClosedAt = &t
	}
	return w, nil
}

func selectWithdrawals(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]*Withdrawal, error) {
	var rows []row
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]*Withdrawal, 0, len(rows))
	for i := range rows {
		w, err := rows[i].withdrawal()
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// one returns the only withdrawal the query selects, or nil if none.
func selectOne(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) (*Withdrawal, error) {
	ws, err := selectWithdrawals(ctx, q, query, args...)
	if err != nil || len(ws) == 0 {
		return nil, err
	}
	return ws[0], nil
}

// Get returns the withdrawal with the given id, or an error matching
// ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Withdrawal, error) { return s.get(ctx, s.db, id) }

// GetTx is Get inside the caller's transaction.
func (s *Store) GetTx(ctx context.Context, tx *sqlx.Tx, id string) (*Withdrawal, error) {
	return s.get(ctx, tx, id)
}

func (s *Store) get(ctx context.Context, q sqlx.QueryerContext, id string) (*Withdrawal, error) {
	w, err := selectOne(ctx, q, `SELECT `+columns+` FROM `+s.withdrawals+` WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: reading %q: %w", id, ctxerr.Wrap(ctx, err))
	}
	if w == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return w, nil
}

// ListByStatus returns the withdrawals in any of the given statuses (all
// withdrawals if none is given), oldest first. A status that is not one of
// Statuses() is an error.
func (s *Store) ListByStatus(ctx context.Context, statuses ...Status) ([]*Withdrawal, error) {
	return s.list(ctx, s.db, 0, statuses)
}

// ListByStatusTx is ListByStatus inside the caller's transaction.
func (s *Store) ListByStatusTx(ctx context.Context, tx *sqlx.Tx, statuses ...Status) ([]*Withdrawal, error) {
	return s.list(ctx, tx, 0, statuses)
}

func (s *Store) list(ctx context.Context, q sqlx.QueryerContext, limit int, statuses []Status) ([]*Withdrawal, error) {
	query := `SELECT ` + columns + ` FROM ` + s.withdrawals
	var args []any
	if len(statuses) > 0 {
		names := make([]string, len(statuses))
		for i, st := range statuses {
			if !st.Valid() {
				return nil, fmt.Errorf("withdrawal: listing withdrawals: unknown status %q", st)
			}
			names[i] = string(st)
		}
		query += ` WHERE status = ANY($1)`
		args = append(args, pq.Array(names))
	}
	query += ` ORDER BY created_at, id`
	if limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, limit)
	}
	ws, err := selectWithdrawals(ctx, q, query, args...)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: listing withdrawals %v: %w", statuses, ctxerr.Wrap(ctx, err))
	}
	return ws, nil
}

// Reservations returns the holdings reserved now, contract id → the
// withdrawal holding it.
func (s *Store) Reservations(ctx context.Context) (map[string]string, error) {
	var rows []struct {
		CID string `db:"contract_id"`
		WID string `db:"withdrawal_id"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT contract_id, withdrawal_id FROM `+s.reservations); err != nil {
		return nil, fmt.Errorf("withdrawal: reading reservations: %w", ctxerr.Wrap(ctx, err))
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.CID] = r.WID
	}
	return out, nil
}

// Create stores a withdrawal request in status requested and reserves its
// holdings, in a transaction of its own. See CreateTx.
func (s *Store) Create(ctx context.Context, r Request) (w *Withdrawal, err error) {
	err = s.inTx(ctx, fmt.Sprintf("creating %q", r.ID), func(tx *sqlx.Tx) error {
		w, err = s.CreateTx(ctx, tx, r)
		return err
	})
	return w, err
}

// createSavepoint undoes a refused CreateTx without aborting the caller's
// transaction.
const createSavepoint = "txhistory_withdrawal_create"

// CreateTx stores a withdrawal request in status requested and reserves
// its holdings, inside the caller's transaction (which must use READ
// COMMITTED, PostgreSQL's default; another is refused, see
// schema.CheckCurrentTx), so the exchange can reserve the user's
// funds in the same transaction. It returns the stored withdrawal.
//
// It refuses, with the error named, and leaves tx as it was:
//   - any request on a schema not at this build's version: one a newer
//     release migrated (schema.ErrUnknownVersion, a rolling upgrade: run
//     the newer release's Create) or one not yet migrated by this release
//     (schema.ErrNotMigrated); it holds the schema's migration lock shared
//     until tx ends, so a migration waits for tx (see schema.CheckCurrentTx);
//   - a new request while the withdrawal gate is closed:
//     ErrWithdrawalsDisabled (a request stored already is returned, as
//     below), or while a RestoreProcedure has closed the restored gate
//     and not opened it yet, whatever its row says (Gate.RestoreWaiting);
//     and any request while a RestoreProcedure restores the
//     database (from before its step 1 closes the gate until step 2
//     closes the restored one: see RestoreProcedure.Restore), even one
//     stored already, for its table may be pg_restore's then: this
//     refusal comes first, before the schema's version is read (the
//     migration table may be pg_restore's too), so the call neither
//     waits behind pg_restore nor deadlocks with it;
//   - an invalid request (ErrInvalidRequest);
//   - a request whose id is taken by a different withdrawal (ErrIDConflict);
//   - a holding that is not a live, unlocked treasury holding of the
//     instrument in the holding set (ErrHoldingUnavailable), or holdings
//     that hold less than the amount;
//   - a holding another open withdrawal has reserved (ErrHoldingReserved).
//
// Create is idempotent: the same request again returns the stored
// withdrawal, whatever its status by now, and reserves nothing more; of
// two Creates of one id at once, one stores it and the other returns it
// (or ErrIDConflict, for another request).
// CreateTx does not tell a request stored now from one stored before: an
// exchange that debits the user in tx and retries tx after an unknown
// outcome of its commit (a connection lost at COMMIT) must make the debit
// idempotent too, keyed by the withdrawal id (a unique constraint on its
// own ledger's row, say), or the retry debits the user a second time.
// Concurrent Creates reserving the same holding are safe: one wins, the
// other gets ErrHoldingReserved. Once Disable has returned, no Create
// commits until the gate opens again. Create locks the holdings it checks
// until tx ends, so ingestion cannot archive them meanwhile; a deadlock
// with ingestion is possible when it archives the same holdings (or with
// a migration, when tx touched txhistory's tables before CreateTx), and is
// reported as a database error (SQLSTATE 40P01, ingest.IsTransientDBError):
// roll tx back and retry the whole transaction, not CreateTx alone (tx
// still holds its locks). A migration waiting for tx makes every later
// ingestion batch, Create and Automation submission wait behind it: keep
// tx short.
func (s *Store) CreateTx(ctx context.Context, tx *sqlx.Tx, r Request) (*Withdrawal, error) {
	r = r.normalize()
	if err := r.validate(s.cfg.IsWithdrawalID, s.cfg.Instruments); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT `+createSavepoint); err != nil {
		return nil, fmt.Errorf("withdrawal: creating %q: %w", r.ID, err)
	}
	w, err := s.create(ctx, tx, r)
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT `+createSavepoint); rerr != nil {
			return nil, errors.Join(err, fmt.Errorf("withdrawal: rolling back the refused create of %q: %w", r.ID, rerr))
		}
	}
	if _, rerr := tx.ExecContext(ctx, `RELEASE SAVEPOINT `+createSavepoint); rerr != nil {
		return nil, errors.Join(err, fmt.Errorf("withdrawal: creating %q: %w", r.ID, rerr))
	}
	return w, err
}

func (s *Store) create(ctx context.Context, tx *sqlx.Tx, r Request) (*Withdrawal, error) {
	// The restore locks first, before the schema's version is read: the
	// tables may be pg_restore's (the migration table among them), and
	// neither the version nor a stored request is looked up until the
	// restored gate is closed (restoreLocks).
	restoring, waiting, err := s.restoreLocks(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: creating %q: withdrawal: reading the withdrawal gate: %w", r.ID, err)
	}
	if restoring {
		return nil, fmt.Errorf("%w (%s): withdrawal %q not created", ErrWithdrawalsDisabled, Gate{Restoring: true}.why(), r.ID)
	}
	if err := s.checkSchema(ctx, tx, fmt.Sprintf("creating %q", r.ID)); err != nil {
		return nil, err
	}
	// The gate row is locked in share mode until the transaction ends, so
	// Disable (an UPDATE of it) waits for creates in flight, and creates
	// after it see the gate closed.
	g, err := s.readGate(ctx, tx, true, waiting)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: creating %q: %w", r.ID, err)
	}
	// A request stored already is answered whatever the gate (but during a
	// restore, above): a caller retrying after a lost reply must learn
	// that it exists.
	if existing, err := selectOne(ctx, tx, `SELECT `+columns+` FROM `+s.withdrawals+` WHERE id = $1`, r.ID); err != nil {
		return nil, fmt.Errorf("withdrawal: creating %q: %w", r.ID, err)
	} else if existing != nil {
		return existingOrConflict(existing, r)
	}
	if !g.Enabled {
		return nil, fmt.Errorf("%w (since %s: %s): withdrawal %q not created", ErrWithdrawalsDisabled,
			g.ChangedAt.Format(time.RFC3339), g.Reason, r.ID)
	}
	if !g.Open() {
		return nil, fmt.Errorf("%w (%s): withdrawal %q not created", ErrWithdrawalsDisabled, g.why(), r.ID)
	}
	if err := s.checkHoldings(ctx, tx, r); err != nil {
		if he := (*HoldingError)(nil); errors.As(err, &he) && he.ReservedBy == r.ID {
			// A concurrent Create of this id committed after we looked:
			// the holding is reserved by the withdrawal itself.
			existing, err := s.get(ctx, tx, r.ID)
			if err != nil {
				return nil, err
			}
			return existingOrConflict(existing, r)
		}
		return nil, err
	}
	w, err := selectOne(ctx, tx, `INSERT INTO `+s.withdrawals+` (id, user_account, amount, instrument_admin, instrument_id,
			receiver, reserved_holdings, reserved_funds, trec_tgt, synchronizer_id, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (id) DO NOTHING
		RETURNING `+columns,
		r.ID, r.UserAccount, r.Amount.String(), r.Instrument.Admin, r.Instrument.ID, r.Receiver, pq.Array(r.ReservedHoldings),
		r.ReservedFunds.String(), r.TrecTgt, r.SynchronizerID, string(StatusRequested))
	if err != nil {
		return nil, fmt.Errorf("withdrawal: creating %q: %w", r.ID, err)
	}
	if w == nil {
		// A concurrent Create (or the recovery of its transfer) committed
		// this id after we looked.
		existing, err := s.get(ctx, tx, r.ID)
		if err != nil {
			return nil, err
		}
		return existingOrConflict(existing, r)
	}
	// The primary key of the reservation table decides races between
	// creates that checked the same free holding: the loser waits for the
	// winner's commit and then inserts nothing.
	var got []string
	err = tx.SelectContext(ctx, &got, `INSERT INTO `+s.reservations+` (contract_id, withdrawal_id)
		SELECT cid, $2 FROM unnest($1::text[]) AS u(cid) ORDER BY cid
		ON CONFLICT (contract_id) DO NOTHING
		RETURNING contract_id`, pq.Array(r.ReservedHoldings), r.ID)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: reserving the holdings of %q: %w", r.ID, err)
	}
	if len(got) < len(r.ReservedHoldings) {
		for _, cid := range r.ReservedHoldings {
			if !slices.Contains(got, cid) {
				var by string
				_ = tx.GetContext(ctx, &by, `SELECT withdrawal_id FROM `+s.reservations+` WHERE contract_id = $1`, cid)
				return nil, &HoldingError{Withdrawal: r.ID, ContractID: cid, ReservedBy: by, kind: ErrHoldingReserved}
			}
		}
	}
	s.log.Debug("withdrawal: created", "id", r.ID, "amount", r.Amount, "instrument", r.Instrument, "holdings", len(r.ReservedHoldings))
	if r.SynchronizerID != "" {
		s.warnUnknownRequestClock(ctx, tx, r)
	}
	return w, nil
}

// warnUnknownRequestClock warns when a request names a synchronizer with
// no record time ingested while others have some: it does not expire, nor
// stop being submitted, until one is (a typo in the id keeps it requested
// for good). A failed read of the checkpoint (a role without access to it,
// say) only skips the warning: it runs in a savepoint of its own, rolled
// back on failure, since a failed statement would abort tx.
func (s *Store) warnUnknownRequestClock(ctx context.Context, tx *sqlx.Tx, r Request) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT `+warnSavepoint); err != nil {
		return
	}
	times, err := s.recordTimes(ctx, tx)
	if err != nil {
		_, _ = tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT `+warnSavepoint)
	}
	_, _ = tx.ExecContext(ctx, `RELEASE SAVEPOINT `+warnSavepoint)
	if err != nil || len(times) == 0 || !times[r.SynchronizerID].IsZero() {
		return
	}
	s.log.Warn("withdrawal: the request names a synchronizer with no record time ingested yet: it does not expire until one is (not used by the treasury so far, or a wrong id)",
		"id", r.ID, "synchronizer_id", r.SynchronizerID, "ingested", slices.Sorted(maps.Keys(times)))
}

// warnSavepoint holds warnUnknownRequestClock's read.
const warnSavepoint = "txhistory_withdrawal_create_warn"

func existingOrConflict(existing *Withdrawal, r Request) (*Withdrawal, error) {
	if sameRequest(existing.Request.normalize(), r) {
		return existing, nil
	}
	what := "its content differs"
	switch {
	case existing.Recovered && existing.Status.PaidOut():
		what = "it was recovered from the ledger: its transfer was executed"
	case existing.Recovered && existing.Status.Open():
		what = "it was recovered from the ledger: its transfer instruction is pending acceptance"
	case existing.Recovered:
		what = "it was recovered from the ledger: its transfer paid nothing out"
	}
	return nil, fmt.Errorf("%w: withdrawal %q exists in status %s and %s", ErrIDConflict, r.ID, existing.Status, what)
}

// checkHoldings locks the requested holdings in share mode (so ingestion
// cannot archive them before this transaction ends) and checks that they
// can be reserved.
func (s *Store) checkHoldings(ctx context.Context, tx *sqlx.Tx, r Request) error {
	var hs []struct {
		CID      string `db:"contract_id"`
		Owner    string `db:"owner"`
		Admin    string `db:"instrument_admin"`
		ID       string `db:"instrument_id"`
		Amount   string `db:"amount"`
		Locked   bool   `db:"locked"`
		Archived bool   `db:"archived"`
	}
	err := tx.SelectContext(ctx, &hs, `SELECT contract_id, owner, instrument_admin, instrument_id, amount::text AS amount,
			lock IS NOT NULL AND lock <> 'null'::jsonb AS locked, archived_offset IS NOT NULL AS archived
		FROM `+s.holdings+` WHERE contract_id = ANY($1) ORDER BY contract_id FOR SHARE`, pq.Array(r.ReservedHoldings))
	if err != nil {
		return fmt.Errorf("withdrawal: reading the holdings of %q: %w", r.ID, err)
	}
	unavailable := func(cid, reason string) error {
		return &HoldingError{Withdrawal: r.ID, ContractID: cid, Reason: reason, kind: ErrHoldingUnavailable}
	}
	var sum decimal.Decimal
	found := make(map[string]bool, len(hs))
	for _, h := range hs {
		found[h.CID] = true
		switch {
		case h.Archived:
			return unavailable(h.CID, "is archived")
		case s.cfg.Treasury != "" && h.Owner != s.cfg.Treasury:
			return unavailable(h.CID, fmt.Sprintf("is owned by %s, not the treasury %s", h.Owner, s.cfg.Treasury))
		case h.Admin != r.Instrument.Admin || h.ID != r.Instrument.ID:
			return unavailable(h.CID, fmt.Sprintf("holds %s, not %s", tokenstd.Instrument{Admin: h.Admin, ID: h.ID}, r.Instrument))
		case h.Locked:
			return unavailable(h.CID, "is locked")
		}
		amt, err := decimal.NewFromString(h.Amount)
		if err != nil {
			return fmt.Errorf("withdrawal: holding %s: amount %q: %w", h.CID, h.Amount, err)
		}
		sum = sum.Add(amt)
	}
	for _, cid := range r.ReservedHoldings {
		if !found[cid] {
			return unavailable(cid, "is not in the holding set (not a treasury holding, or not ingested yet)")
		}
	}
	if sum.LessThan(r.Amount) {
		return fmt.Errorf("%w: withdrawal %q: the reserved holdings hold %s, less than the amount %s", ErrInvalidRequest, r.ID, sum, r.Amount)
	}
	var taken []struct {
		CID string `db:"contract_id"`
		WID string `db:"withdrawal_id"`
	}
	// Those of the withdrawal itself first: a concurrent Create of its id
	// committed since create looked for it.
	if err := tx.SelectContext(ctx, &taken, `SELECT contract_id, withdrawal_id FROM `+s.reservations+
		` WHERE contract_id = ANY($1) ORDER BY withdrawal_id <> $2, contract_id`, pq.Array(r.ReservedHoldings), r.ID); err != nil {
		return fmt.Errorf("withdrawal: reading the reservations of %q: %w", r.ID, err)
	}
	if len(taken) > 0 {
		return &HoldingError{Withdrawal: r.ID, ContractID: taken[0].CID, ReservedBy: taken[0].WID, kind: ErrHoldingReserved}
	}
	return nil
}

// clock is the ingested record time trecTgt is compared with, for a
// withdrawal on synchronizer sync ("" for the store's clock), given the
// record times reached per synchronizer. Zero when unknown: nothing was
// ingested there (on one of Config.Synchronizers, for the store's clock).
func (s *Store) clock(times map[string]time.Time, sync string) time.Time {
	if sync == "" {
		sync = s.cfg.Synchronizer
	}
	if sync != "" {
		return times[sync]
	}
	var earliest time.Time
	if len(s.cfg.Synchronizers) > 0 {
		for _, sync := range s.cfg.Synchronizers {
			t, ok := times[sync]
			if !ok || t.IsZero() {
				return time.Time{}
			}
			if earliest.IsZero() || t.Before(earliest) {
				earliest = t
			}
		}
		return earliest
	}
	for _, t := range times {
		if earliest.IsZero() || t.Before(earliest) {
			earliest = t
		}
	}
	return earliest
}

// restoreClock is the clock of the restore procedure's gate: the store's
// clock, or the record time of one of the synchronizers also (those the
// restored withdrawals in flight name) if that is earlier. Zero while one
// of them has no record time: a withdrawal lost in the restore may have
// been sent there too.
func (s *Store) restoreClock(times map[string]time.Time, also []string) time.Time {
	t := s.clock(times, "")
	for _, sync := range also {
		if t.IsZero() {
			break
		}
		if st := times[sync]; st.Before(t) {
			t = st
		}
	}
	return t
}

// IngestedTime returns the store's clock: the ingested record time, from
// the checkpoint, on Config.Synchronizer, or the earliest over
// Config.Synchronizers (zero while one has none), or over every
// synchronizer if neither is configured. Zero before anything was
// ingested.
func (s *Store) IngestedTime(ctx context.Context) (time.Time, error) {
	t, _, err := s.restoreIngestedTime(ctx, nil)
	return t, err
}

// restoreIngestedTime is IngestedTime for the restore procedure's wait:
// restoreClock over the synchronizers also (none: the store's clock), and
// the checkpoint it was read from (its RecordTimes).
func (s *Store) restoreIngestedTime(ctx context.Context, also []string) (time.Time, checkpoint.Checkpoint, error) {
	cp, err := s.checkpoint(ctx, s.db)
	if err != nil {
		return time.Time{}, checkpoint.Checkpoint{}, err
	}
	if s.clock(cp.RecordTimes, "").IsZero() {
		s.warnUnknownClock(cp.RecordTimes)
	}
	return s.restoreClock(cp.RecordTimes, also), cp, nil
}

// recoveredSynchronizers returns the synchronizers of the withdrawals
// recovered since since (by the database clock), sorted: the one each
// transfer committed on, and the request's if the RecoveryHook named one.
// After an Integration DB restore these are synchronizers lost requests
// were sent to.
func (s *Store) recoveredSynchronizers(ctx context.Context, q sqlx.QueryerContext, since time.Time) ([]string, error) {
	var out []string
	err := sqlx.SelectContext(ctx, q, &out, `SELECT sync FROM (SELECT synchronizer_id AS sync FROM `+s.withdrawals+
		` WHERE recovered AND created_at >= $1 UNION SELECT ledger_synchronizer_id FROM `+s.withdrawals+
		` WHERE recovered AND created_at >= $1) AS u WHERE sync <> '' ORDER BY sync`, since)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: reading the synchronizers of the withdrawals recovered since %s: %w", since.Format(time.RFC3339Nano), err)
	}
	return out, nil
}

func (s *Store) recordTimes(ctx context.Context, q sqlx.QueryerContext) (map[string]time.Time, error) {
	cp, err := s.checkpoint(ctx, q)
	return cp.RecordTimes, err
}

// checkpoint reads the ingestion checkpoint: the record times ingested
// and the last ingested transaction.
func (s *Store) checkpoint(ctx context.Context, q sqlx.QueryerContext) (checkpoint.Checkpoint, error) {
	cp, _, err := s.cps.Get(ctx, q)
	if err != nil {
		return checkpoint.Checkpoint{}, fmt.Errorf("withdrawal: reading the ingested record time: %w", ctxerr.Wrap(ctx, err))
	}
	return cp, nil
}
