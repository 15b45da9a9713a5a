package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ErrUnknownVersion is returned, wrapped, when a schema records a migration
// version this build does not embed: it was migrated by a newer release,
// whose tables this build must not use.
var ErrUnknownVersion = errors.New("schema: applied migration version unknown to this build")

// ErrNotMigrated is returned, wrapped, by CheckCurrent when a schema is
// behind this build: never migrated, or migrated by an older release and
// not yet by this one. Its tables lack what this build writes.
var ErrNotMigrated = errors.New("schema: not migrated to this build's version")

// lockClass is the first half of the two-part advisory lock key that
// serialises migrators; the second half is hashtext(schema name). The two-key
// form lives in a different key space from single bigint keys, so it cannot
// collide with an application's own pg_advisory_lock(bigint) calls. The value
// spells "txmg" in ASCII.
const lockClass = 0x74786d67

// Option configures Migrate, MigrateTx and Versions.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	schema    string
	target    int
	targetSet bool
}

// WithSchema sets the PostgreSQL schema that holds the tables. The default
// is DefaultName. The name must pass ValidateName.
func WithSchema(name string) Option {
	return optionFunc(func(c *config) { c.schema = name })
}

// WithTargetVersion migrates to exactly version v, running down migrations
// in reverse order for applied versions above v and up migrations for
// missing versions up to v. v must be between 0 and Latest(); 0 removes
// every txhistory table except the migration bookkeeping table.
//
// Without this option Migrate only ever moves up: it applies every pending
// migration up to Latest and never undoes anything. A schema with a version
// newer than Latest (applied by a newer release) is refused with
// ErrUnknownVersion, with or without this option. Ignored by Versions.
func WithTargetVersion(v int) Option {
	return optionFunc(func(c *config) { c.target, c.targetSet = v, true })
}

func newConfig(opts []Option) (config, error) {
	c := config{schema: DefaultName}
	for i, o := range opts {
		if o == nil {
			return c, fmt.Errorf("schema: option %d is nil", i)
		}
		o.apply(&c)
	}
	if err := ValidateName(c.schema); err != nil {
		return c, err
	}
	if c.targetSet && (c.target < 0 || c.target > Latest()) {
		return c, fmt.Errorf("schema: target version %d for schema %q out of range: this build knows versions 0 to %d", c.target, c.schema, Latest())
	}
	return c, nil
}

// Applied describes one migration recorded in the migration table.
type Applied struct {
	// Version is the migration's number, 1 for 001_core.
	Version int `db:"version"`
	// Name is the file name part after the version, "core" for 001_core.
	Name string `db:"name"`
	// AppliedAt is when the migration was committed (the transaction's start
	// time, as given by now()), in UTC.
	AppliedAt time.Time `db:"applied_at"`
}

// Migrate brings the schema to the target version (see WithSchema and
// WithTargetVersion) in a single transaction of its own: either every
// pending migration is applied or none is.
//
// It creates the schema and the migration table if they are missing; when
// they already exist it does not need the CREATE privilege, so a DBA can
// pre-create the schema for a less privileged role. Concurrent calls for the
// same schema, from any number of processes, are serialised with a
// transaction-scoped advisory lock; the second caller finds the work done and
// changes nothing. With migrations to apply, Migrate also waits for the
// transactions that hold the schema's version with CheckCurrentTx (an
// ingest.Ingester's batch in flight, a withdrawal Automation's submission,
// up to its SubmitTimeout, a transaction of the exchange's that called a
// withdrawal.Store write such as CreateTx). Running Migrate on an
// up-to-date schema is a cheap no-op: it reads the versions without the
// lock, and neither waits for those transactions nor holds up their checks.
//
// When ctx ends while a statement runs (the lock's wait, say), the error
// wraps ctx's too: errors.Is finds context.DeadlineExceeded or
// context.Canceled. So does MigrateTx's.
//
//	if err := schema.Migrate(ctx, db); err != nil {
//		return err
//	}
func Migrate(ctx context.Context, db *sqlx.DB, opts ...Option) (err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	if db == nil {
		return fmt.Errorf("schema: migrating schema %q: nil database", cfg.schema)
	}
	// Most calls find nothing to do (every start migrates). The lock would
	// wait for the transactions holding the version (CheckCurrentTx: a
	// submission in flight, up to its SubmitTimeout) while every later
	// check queued behind it; so read the versions without it first. A
	// schema found at the target needs nothing, and this call, which
	// commits nothing then, holds nothing after it returns either; anything
	// else, a failed read included, goes through the lock as before. So
	// does a schema with no version recorded: Versions lists none for a
	// missing migration table too, which Migrate creates even at target 0.
	if applied, err := Versions(ctx, db, opts...); err == nil && len(applied) > 0 {
		versions := make([]int, len(applied))
		for i, a := range applied {
			versions[i] = a.Version
		}
		if plan, err := planSteps(cfg, versions); err == nil && len(plan) == 0 {
			return nil
		}
	}
	// READ COMMITTED whatever the database's default, so that a migrator
	// that waited for the lock sees the work of the one before (MigrateTx).
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("schema: beginning the migration transaction of schema %q: %w", cfg.schema, err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit

	if err := MigrateTx(ctx, tx, opts...); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("schema: committing the migrations of schema %q: %w", cfg.schema, err)
	}
	return nil
}

// MigrateTx is Migrate inside the caller's transaction, so the schema change
// commits or rolls back together with the caller's own statements. DDL is
// transactional in PostgreSQL: nothing is visible to others before commit.
//
// The transaction must use READ COMMITTED isolation (PostgreSQL's default):
// under REPEATABLE READ or SERIALIZABLE the snapshot predates the advisory
// lock, and a concurrent migrator's work would be invisible; MigrateTx
// refuses such a transaction. The advisory lock is held until the
// transaction ends. MigrateTx sets search_path to the schema (then pg_temp,
// so that the caller's temporary tables cannot stand in for the schema's)
// while migrations run and restores the caller's value before returning.
//
// Call it before the transaction changes or locks tables of your own that
// an ingest.Handler or a withdrawal Refunder writes: it waits for the
// transactions that checked the version (CheckCurrentTx: a batch in flight,
// a submission, a withdrawal.Store write), which may be waiting for those
// tables, a deadlock that PostgreSQL ends by aborting one of them.
//
// On error the transaction is in an aborted state and must be rolled back.
func MigrateTx(ctx context.Context, tx *sqlx.Tx, opts ...Option) (err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	if tx == nil {
		return fmt.Errorf("schema: migrating schema %q: nil transaction", cfg.schema)
	}
	name := cfg.schema
	qSchema := pq.QuoteIdentifier(name)
	qTable := Qualify(name, MigrationTable)

	var isolation string
	if err := tx.GetContext(ctx, &isolation, `SELECT current_setting('transaction_isolation')`); err != nil {
		return fmt.Errorf("schema: migrating schema %q: reading the transaction's isolation level: %w", name, err)
	}
	if isolation != "read committed" {
		return fmt.Errorf("schema: migrating schema %q needs a READ COMMITTED transaction, this one is %s", name, strings.ToUpper(isolation))
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockClass, name); err != nil {
		return fmt.Errorf("schema: taking migration lock for schema %q: %w", name, err)
	}

	// Existence is checked before creating so that a role without CREATE on
	// the database can still migrate a schema a DBA made for it. The
	// advisory lock makes check-then-create safe among migrators.
	var exists bool
	if err := tx.GetContext(ctx, &exists, `SELECT to_regnamespace($1) IS NOT NULL`, qSchema); err != nil {
		return fmt.Errorf("schema: looking up schema %q: %w", name, err)
	}
	if !exists {
		if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+qSchema); err != nil {
			return fmt.Errorf("schema: creating schema %q: %w", name, err)
		}
	}
	if err := tx.GetContext(ctx, &exists, `SELECT to_regclass($1) IS NOT NULL`, qTable); err != nil {
		return fmt.Errorf("schema: looking up %s: %w", qTable, err)
	}
	if !exists {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+qTable+` (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("schema: creating %s: %w", qTable, err)
		}
	}

	var appliedVersions []int
	if err := tx.SelectContext(ctx, &appliedVersions, `SELECT version FROM `+qTable+` ORDER BY version`); err != nil {
		return fmt.Errorf("schema: reading %s: %w", qTable, err)
	}

	plan, err := planSteps(cfg, appliedVersions)
	if err != nil {
		return err
	}
	if len(plan) == 0 {
		return nil
	}

	var savedPath string
	if err := tx.GetContext(ctx, &savedPath, `SELECT current_setting('search_path')`); err != nil {
		return fmt.Errorf("schema: migrating schema %q: reading search_path: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL search_path TO `+qSchema+`, pg_temp`); err != nil {
		return fmt.Errorf("schema: setting search_path to schema %q: %w", name, err)
	}

	for _, s := range plan {
		m := s.migration
		if s.up {
			// No arguments: lib/pq sends the script with the simple query
			// protocol, which accepts several statements at once.
			if _, err := tx.ExecContext(ctx, m.UpSQL); err != nil {
				return fmt.Errorf("schema: applying migration %03d (%s) to schema %q: %w", m.Version, m.UpFile, name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+qTable+` (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("schema: recording migration %03d (%s) in schema %q: %w", m.Version, m.UpFile, name, err)
			}
		} else {
			if _, err := tx.ExecContext(ctx, m.DownSQL); err != nil {
				return fmt.Errorf("schema: reverting migration %03d (%s) in schema %q: %w", m.Version, m.DownFile, name, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+qTable+` WHERE version = $1`, m.Version); err != nil {
				return fmt.Errorf("schema: unrecording migration %03d (%s) in schema %q: %w", m.Version, m.DownFile, name, err)
			}
		}
	}

	if _, err := tx.ExecContext(ctx, `SELECT set_config('search_path', $1, true)`, savedPath); err != nil {
		return fmt.Errorf("schema: migrating schema %q: restoring search_path: %w", name, err)
	}
	return nil
}

type step struct {
	migration migration
	up        bool
}

// planSteps lists the scripts that take a schema with the given applied
// versions to the configured target: down scripts newest first, then up
// scripts oldest first.
func planSteps(cfg config, applied []int) ([]step, error) {
	latest := Latest()
	target := latest
	if cfg.targetSet {
		target = cfg.target
	}

	// A version this build does not embed was applied by a newer release:
	// this build cannot know what that release's code expects of the
	// tables, and running on them would leave the newer release's
	// backfills unaware of what it wrote. Refuse, whatever the target.
	if n := len(applied); n > 0 && applied[n-1] > latest {
		return nil, newerError(cfg.schema, applied[n-1])
	}

	isApplied := make(map[int]bool, len(applied))
	var plan []step
	for i := len(applied) - 1; i >= 0; i-- {
		v := applied[i]
		isApplied[v] = true
		if v <= target || !cfg.targetSet {
			continue
		}
		plan = append(plan, step{migration: migrations[v-1], up: false})
	}
	for _, m := range migrations {
		if m.Version <= target && !isApplied[m.Version] {
			plan = append(plan, step{migration: m, up: true})
		}
	}
	return plan, nil
}

// newerError is ErrUnknownVersion for schemaName at version v, above Latest.
func newerError(schemaName string, v int) error {
	return fmt.Errorf("%w: schema %q has version %03d applied, newer than this build (%03d): a newer release migrated it; run a release that knows it (a newer binary must not be rolled back without migrating its schema down first)",
		ErrUnknownVersion, schemaName, v, Latest())
}

// CheckVersion returns the schema's version, the highest migration applied
// (0 for a schema never migrated), or ErrUnknownVersion (wrapped) if it is
// newer than this build's Latest: a newer release migrated it, and this
// build must not write its tables. q may be a *sqlx.DB, a *sqlx.Tx or a
// *sqlx.Conn.
func CheckVersion(ctx context.Context, q sqlx.QueryerContext, opts ...Option) (int, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return 0, err
	}
	applied, err := Versions(ctx, q, opts...)
	if err != nil {
		return 0, err
	}
	v := 0
	if n := len(applied); n > 0 {
		v = applied[n-1].Version
	}
	if v > Latest() {
		return v, newerError(cfg.schema, v)
	}
	return v, nil
}

// CheckCurrent returns nil if the schema is at this build's Latest version,
// ErrNotMigrated (wrapped) if it is behind (run Migrate with this build
// first), or ErrUnknownVersion (wrapped) if a newer release migrated it.
// q may be a *sqlx.DB, a *sqlx.Tx or a *sqlx.Conn.
func CheckCurrent(ctx context.Context, q sqlx.QueryerContext, opts ...Option) error {
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	v, err := CheckVersion(ctx, q, opts...)
	if err != nil {
		return err
	}
	return currentAt(cfg.schema, v)
}

// currentAt is CheckCurrent's verdict on schema name at version v.
func currentAt(name string, v int) error {
	switch {
	case v > Latest():
		return newerError(name, v)
	case v < Latest():
		return fmt.Errorf("%w: schema %q is at version %03d, this build needs %03d: migrate it with this build first (schema.Migrate; ingestd -migrate-only)",
			ErrNotMigrated, name, v, Latest())
	}
	return nil
}

// CheckCurrentTx is CheckCurrent in tx, a READ COMMITTED transaction (it
// refuses another, whose snapshot would predate the lock's wait), and
// keeps the schema at that version until tx ends: it first takes the
// migration lock in shared mode, so that a migrator of the schema (Migrate,
// MigrateTx, of any release) waits for tx to end, and tx, when a migrator
// holds the lock, waits for it to commit and then sees its version. A writer
// that calls it first in each of its transactions writes nothing into a
// schema another release migrated while it ran. On error tx may be in an
// aborted state (a schema never migrated fails the version's read): roll
// it back.
func CheckCurrentTx(ctx context.Context, tx *sqlx.Tx, opts ...Option) error {
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	if tx == nil {
		return fmt.Errorf("schema: checking the version of schema %q: nil transaction", cfg.schema)
	}
	// One round trip (every ingestion batch runs this): the lock, then the
	// version, as two statements of one simple query, each with a snapshot
	// of its own at READ COMMITTED, so that the version read is the one a
	// migrator holding the lock committed. Without parameters (lib/pq sends
	// those in two round trips each): the class is a constant, the name is
	// validated and quoted. The lock's statement also reads the isolation
	// level: at REPEATABLE READ or SERIALIZABLE the version read would be
	// from a snapshot taken before the lock's wait.
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT current_setting('transaction_isolation') FROM pg_advisory_xact_lock_shared(%d, hashtext(%s));
		SELECT coalesce(max(version), 0) FROM %s`, lockClass, pq.QuoteLiteral(cfg.schema), Qualify(cfg.schema, MigrationTable)))
	if err != nil {
		return versionReadError(cfg.schema, ctxerr.Wrap(ctx, err))
	}
	defer rows.Close()
	var isolation string
	if rows.Next() {
		if err := rows.Scan(&isolation); err != nil {
			return fmt.Errorf("schema: reading the version of schema %q under its migration lock: %w", cfg.schema, ctxerr.Wrap(ctx, err))
		}
		if isolation != "read committed" {
			return fmt.Errorf("schema: checking the version of schema %q needs a READ COMMITTED transaction, this one is %s", cfg.schema, strings.ToUpper(isolation))
		}
	}
	var v int
	// The lock's result set, then the version's. An error of the version's
	// statement (no migration table) comes with the rows, not QueryContext.
	for rows.Next() { // the end of the lock's result set
	}
	if !rows.NextResultSet() || !rows.Next() {
		if err := rows.Err(); err != nil {
			return versionReadError(cfg.schema, ctxerr.Wrap(ctx, err))
		}
		return fmt.Errorf("schema: reading the version of schema %q under its migration lock: no result", cfg.schema)
	}
	if err := rows.Scan(&v); err != nil {
		return fmt.Errorf("schema: reading the version of schema %q under its migration lock: %w", cfg.schema, ctxerr.Wrap(ctx, err))
	}
	return currentAt(cfg.schema, v)
}

// versionReadError is CheckCurrentTx's verdict on err, the error of its
// query on schema name: a missing migration table (undefined_table) is a
// schema never migrated.
func versionReadError(name string, err error) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42P01" {
		return currentAt(name, 0)
	}
	return fmt.Errorf("schema: reading the version of schema %q under its migration lock: %w", name, err)
}

// Versions lists the migrations applied to the schema (see WithSchema),
// oldest first. A schema that was never migrated yields an empty list and no
// error. q may be a *sqlx.DB, a *sqlx.Tx or a *sqlx.Conn.
func Versions(ctx context.Context, q sqlx.QueryerContext, opts ...Option) ([]Applied, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if q == nil || nilcheck.Holds(q) {
		return nil, fmt.Errorf("schema: reading the versions of schema %q: nil database (%T)", cfg.schema, q)
	}
	qTable := Qualify(cfg.schema, MigrationTable)

	var exists bool
	if err := sqlx.GetContext(ctx, q, &exists, `SELECT to_regclass($1) IS NOT NULL`, qTable); err != nil {
		return nil, fmt.Errorf("schema: looking up %s: %w", qTable, ctxerr.Wrap(ctx, err))
	}
	if !exists {
		return nil, nil
	}
	var out []Applied
	if err := sqlx.SelectContext(ctx, q, &out, `SELECT version, name, applied_at FROM `+qTable+` ORDER BY version`); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("schema: reading %s: %w", qTable, ctxerr.Wrap(ctx, err))
	}
	for i := range out {
		out[i].AppliedAt = out[i].AppliedAt.UTC()
	}
	return out, nil
}
