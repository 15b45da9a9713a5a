package recovery

import (
	"errors"
	"fmt"

	"github.com/cantonx/txhistory/schema"
)

// Errors of the runbook. Each is returned wrapped, with the offsets, update
// id and record times it concerns; match them with errors.Is.
var (
	// ErrNothingIngested: the checkpoint holds no ingested transaction, so
	// there is no tRecovery. Nothing was ingested that offsets could have
	// invalidated, but a checkpoint moved by offset checkpoints holds an
	// offset of the participant's numbering before its restore, which the
	// Ingester refuses (ingest.ErrParticipantRestored) and resuming at which could
	// skip the treasury's first transactions: the error gives the
	// statements that reset it.
	ErrNothingIngested = errors.New("recovery: the checkpoint names no ingested transaction (no tRecovery)")

	// ErrNotCaughtUp: the participant did not process tRecovery within
	// Options.Timeout. Wait longer (it may still be recovering from the
	// synchronizer), and check that it is connected to the synchronizer.
	ErrNotCaughtUp = errors.New("recovery: the participant has not processed tRecovery yet")

	// ErrHistoryMismatch: the participant has processed tRecovery but shows
	// no transaction at exactly that record time (Canton 3.5+
	// EXACT_RECORD_TIME_MATCH_NOT_FOUND). It is not the participant the
	// Integration DB was filled from, or the synchronizer id is wrong.
	ErrHistoryMismatch = errors.New("recovery: the participant has no transaction at tRecovery")

	// ErrRecordTimeNotUnique: in ModeUnique, the participant has transactions
	// after the last ingested one with the same record time tRecovery;
	// resuming after offRecovery would skip them. Use ModeNonUnique.
	ErrRecordTimeNotUnique = errors.New("recovery: record times are not unique at tRecovery: use the non-unique mode")

	// ErrUntrustedAnswer: the admin API answered an offset that cannot be
	// right (beyond the last ingested transaction's offset). Plan never
	// rewinds to it.
	ErrUntrustedAnswer = errors.New("recovery: the admin API answered an offset that cannot be offRecovery")

	// ErrDedupMissing: in ModeNonUnique, the dedup table no longer holds the
	// last ingested update, so the transactions at tRecovery that were
	// ingested could not be told from those that were not. Use ModeUnique if
	// the record times at tRecovery are unique (it refuses otherwise).
	ErrDedupMissing = errors.New("recovery: the dedup table no longer holds the last ingested update")

	// ErrIngestionRunning: an Ingester holds the ingestion lock of the
	// schema. Step 1 of the runbook: stop Tx History Ingestion first.
	ErrIngestionRunning = errors.New("recovery: Tx History Ingestion is running on this schema: stop it first")

	// ErrPartiesDiffer: Options.Parties are not the treasury parties the
	// Integration DB recorded with its checkpoint (see package ingest,
	// Config.Parties): looked up with them, the last ingested transaction
	// may never show. Pass the parties ingestion reads.
	ErrPartiesDiffer = errors.New("recovery: Options.Parties differ from the parties the Integration DB was ingested for")
)

// nothingIngested is ErrNothingIngested for the checkpoint at offset of
// schema, saying what to do: nothing needs replaying, so ingestion may read
// the restored participant again from an offset before the treasury's
// first transaction. Forgetting the synchronizers' record times makes the
// checkpoint one the Ingester starts from rather than one the participant
// streamed before (which it takes for another restore when the ledger end
// is below it).
func nothingIngested(schemaName string, offset int64) error {
	return fmt.Errorf("%w (checkpoint offset %d): nothing was ingested, so nothing needs replaying, but if the participant was restored "+
		"from a backup the offset may be of its numbering before the restore, and resuming there could skip the treasury's first "+
		"transactions: with ingestion stopped, as txhistory_ingest, read the participant again from the start "+
		"(UPDATE %[3]s SET ledger_offset = 0; DELETE FROM %[4]s; an offset of the restored participant "+
		"before the treasury's first transaction instead of 0 if it has pruned), then start ingestion",
		ErrNothingIngested, offset, schema.Qualify(schemaName, "checkpoint"), schema.Qualify(schemaName, "synchronizer_time"))
}
