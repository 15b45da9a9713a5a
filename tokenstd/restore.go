package tokenstd

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// seqEpochBase and seqEpochShift make the Seq values RenumberAfterRestore
// hands out from: (seconds since seqEpochBase, to the microsecond, not
// rounded to the second) * 2^seqEpochShift, read from the clock when it
// runs, above every Seq handed out before unless more than 2^20 entries a
// second were ingested since the last restore, and below 2^53 for 270 years
// (Seq stays exact in JSON readers that use doubles). A value of the second
// alone would repeat itself for two restores, or a renumbering beside
// running ingestion, within the same second.
const (
	seqEpochBase  = 1_700_000_000 // 2023-11-14, Unix seconds
	seqEpochShift = 20
)

// RenumberAfterRestore moves the sequence of Entry.Seq past every value it
// handed out before the Integration DB was restored from a backup.
// pg_restore sets the sequence back to the backup's value, so entries
// ingested again after the restore would get Seq values a reader of the
// history (ListEntries with EntryFilter.AfterSeq) may already have gone
// past: it would never see them, nor some new ones. Call it after the
// restore and before ingestion starts again (withdrawal.RestoreProcedure
// calls it after its Restore step). Calling it again, or on a database that
// was not restored, changes nothing a reader relies on.
//
// A reader that keeps its cursor across the restore then sees everything
// ingested since the backup once more, at new Seq values: it drops what it
// has seen by the entry's key (update id, node, kind and instrument),
// taking deposit and deposit_unassigned as one kind: the replay calls the
// DepositCrediter again, and a deposit it now answers otherwise (an
// account created since, or lost with the restore) comes back as the other.
//
// q may be the caller's transaction, but the sequence's move is not
// rolled back with it: PostgreSQL's setval is not transactional. That is
// harmless, for the sequence only ever moves forward and a reader relies
// on nothing it changes (as above). Given the pool (*sqlx.DB), it runs
// in a transaction of its own, which lib/pq begins READ WRITE: outside
// one, a DBA's default_transaction_read_only = on would refuse the
// setval. (A *sqlx.Conn is no sqlx.ExtContext: it lacks BindNamed.)
//
// A schema without the history table (tokenstd not used) is left alone.
// When ctx ends while a statement runs, the error wraps ctx's too:
// errors.Is finds context.DeadlineExceeded or context.Canceled.
func RenumberAfterRestore(ctx context.Context, q sqlx.ExtContext, schemaName string) (err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	if err := schema.ValidateName(schemaName); err != nil {
		return fmt.Errorf("tokenstd: %w", err)
	}
	if b, ok := q.(interface {
		BeginTxx(context.Context, *sql.TxOptions) (*sqlx.Tx, error)
	}); ok {
		tx, err := b.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			return fmt.Errorf("tokenstd: renumbering after a restore: %w", err)
		}
		defer func() { _ = tx.Rollback() }() // no-op after Commit
		if err := renumber(ctx, tx, schemaName); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("tokenstd: renumbering after a restore: %w", err)
		}
		return nil
	}
	return renumber(ctx, q, schemaName)
}

// renumber is RenumberAfterRestore in q.
func renumber(ctx context.Context, q sqlx.ExtContext, schemaName string) error {
	table := schema.Qualify(schemaName, HistoryTable)
	var exists bool
	if err := sqlx.GetContext(ctx, q, &exists, `SELECT to_regclass($1) IS NOT NULL`, table); err != nil {
		return fmt.Errorf("tokenstd: renumbering after a restore: %w", err)
	}
	if !exists {
		return nil
	}
	var seq string // quoted by PostgreSQL
	if err := sqlx.GetContext(ctx, q, &seq, `SELECT pg_get_serial_sequence($1, 'id')`, table); err != nil {
		return fmt.Errorf("tokenstd: renumbering after a restore: %w", err)
	}
	// Never lower: the sequence's own value, the largest Seq stored, and
	// the value of this instant (clock_timestamp, not the transaction's
	// start: q may be a transaction).
	_, err := q.ExecContext(ctx, fmt.Sprintf(`SELECT setval($1, greatest(
			(SELECT last_value FROM %s), (SELECT coalesce(max(id), 0) FROM %s),
			((extract(epoch FROM clock_timestamp())::numeric - %d) * %d)::bigint))`, seq, table, seqEpochBase, int64(1)<<seqEpochShift), seq)
	if err != nil {
		return fmt.Errorf("tokenstd: renumbering after a restore: %w", err)
	}
	return nil
}
