package recovery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// ingestLockClass is the first key of the PostgreSQL advisory lock that a
// running ingest.Ingester holds on its schema (the second is
// hashtext(schema)). It must stay equal to ingest's; TestApplyRefusesWhileIngesting
// fails if they drift apart.
const ingestLockClass = 0x74786967 // "txig"

// Apply is step 6 of the runbook: it rewrites the checkpoint to rw.To in one
// SQL transaction, with an audit row in checkpoint_rewind (when, from, to,
// tRecovery, synchronizer, mode, and a note with the evidence). See ApplyTx.
func Apply(ctx context.Context, db *sqlx.DB, rw *Rewind) (err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	if db == nil {
		return errors.New("recovery: nil database")
	}
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("recovery: begin: %w", err)
	}
	if err := ApplyTx(ctx, tx, rw); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recovery: commit the rewind: %w", err)
	}
	return nil
}

// ApplyTx is Apply inside the caller's transaction. It fails, writing
// nothing, with
//
//   - ErrIngestionRunning if an Ingester holds the schema's ingestion lock
//     (runbook step 1: stop ingestion first). The lock is then held until tx
//     ends, so no Ingester starts half-way;
//   - schema.ErrUnknownVersion if a newer release migrated the schema (run
//     the runbook with that release's tool), schema.ErrNotMigrated if this
//     release has not migrated it yet (schema.CheckCurrentTx, which holds
//     the version until tx ends);
//   - checkpoint.ErrConflict if the checkpoint is no longer the one Plan
//     read (ingestion ran since, or another rewind).
//
// After it commits, the next Ingester resumes after rw.To, and the record
// time of rw.SynchronizerID is set back to tRecovery so that the replayed
// transactions are not taken for another restore.
func ApplyTx(ctx context.Context, tx *sqlx.Tx, rw *Rewind) (err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	if rw == nil {
		return errors.New("recovery: nil rewind")
	}
	if err := schema.ValidateName(rw.Schema); err != nil {
		return err
	}
	if _, err := ParseMode(string(rw.Mode)); err != nil {
		return err
	}
	if rw.To < 0 || rw.LastUpdateID == "" || rw.SynchronizerID == "" || rw.RecoveryTime.IsZero() {
		return fmt.Errorf("recovery: incomplete rewind (offset %d, update %q, synchronizer %q): use Plan", rw.To, rw.LastUpdateID, rw.SynchronizerID)
	}
	if err := lockIngestion(ctx, tx, rw.Schema); err != nil {
		return err
	}
	if err := schema.CheckCurrentTx(ctx, tx, schema.WithSchema(rw.Schema)); err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	cps, err := checkpoint.NewStore(rw.Schema)
	if err != nil {
		return err
	}
	cp, found, err := cps.Get(ctx, tx)
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	if !found || cp.Offset != rw.From || cp.UpdateID != rw.LastUpdateID {
		return fmt.Errorf("recovery: %w: the plan was made at offset %d after update %s, the checkpoint is now at offset %d after update %q: plan again",
			checkpoint.ErrConflict, rw.From, rw.LastUpdateID, cp.Offset, cp.UpdateID)
	}
	var updateOffset int64
	if rw.ParticipantOffset > 0 && rw.To >= rw.ParticipantOffset {
		// Ingestion resumes after the last ingested transaction: there is
		// no replay of it, and its new offset is known. (A replay that
		// would never meet it again is taken for another restore.)
		updateOffset = rw.ParticipantOffset
	}
	err = cps.RewindTx(ctx, tx, checkpoint.Rewind{
		From:           rw.From,
		To:             rw.To,
		RecoveryTime:   rw.RecoveryTime,
		SynchronizerID: rw.SynchronizerID,
		Mode:           string(rw.Mode),
		Note:           rw.auditNote(),
		UpdateOffset:   updateOffset,
	})
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	return nil
}

// lockIngestion takes the ingestion lock of the schema for the rest of tx.
func lockIngestion(ctx context.Context, tx sqlx.QueryerContext, schemaName string) error {
	var got bool
	if err := sqlx.GetContext(ctx, tx, &got, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, ingestLockClass, schemaName); err != nil {
		return fmt.Errorf("recovery: take the ingestion lock: %w", err)
	}
	if !got {
		return fmt.Errorf("%w (schema %s)", ErrIngestionRunning, schemaName)
	}
	return nil
}

// CheckStopped is step 1 of the runbook as a check: it returns
// ErrIngestionRunning if an Ingester holds the ingestion lock of schemaName
// ("" for schema.DefaultName). An Ingester configured with ingest.LockNone
// takes no lock and cannot be seen.
func CheckStopped(ctx context.Context, db *sqlx.DB, schemaName string) error {
	if db == nil {
		return errors.New("recovery: nil database")
	}
	if schemaName == "" {
		schemaName = schema.DefaultName
	}
	if err := schema.ValidateName(schemaName); err != nil {
		return err
	}
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("recovery: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // releases the lock
	return lockIngestion(ctx, tx, schemaName)
}
