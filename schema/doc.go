// Package schema owns txhistory's PostgreSQL tables: their names, and the
// versioned migrations that create and change them.
//
// # Migrating
//
// Every table lives in one PostgreSQL schema, "txhistory" unless configured
// otherwise, so txhistory can share a database with the application that
// embeds it. Call Migrate once at startup, before anything reads or writes:
//
//	db, err := sqlx.Open("postgres", dsn)
//	if err != nil {
//		return err
//	}
//	if err := schema.Migrate(ctx, db, schema.WithSchema("txhistory")); err != nil {
//		return err
//	}
//
// txhistory needs the lib/pq driver ("postgres", which every txhistory
// package using the database imports, this one too; ledger does not): it
// sends several statements in one query and writes with lib/pq's COPY. Another driver, such as pgx's, migrates but fails
// ingestion's first batch (README.md, "Embedding").
//
// MigrateTx does the same inside a transaction the caller owns, so a
// deployment can migrate txhistory together with its own tables and commit
// once.
//
// # Migrations
//
// Migrations are SQL files embedded in the binary, in pairs:
// migrations/NNN_name.up.sql and migrations/NNN_name.down.sql, numbered from
// 001 without gaps. They run with search_path set to the target schema and
// name tables without a schema prefix, which is how one set of files serves
// any schema name. Applied versions are recorded in the schema's
// txhistory_migration table; Versions lists them and Latest reports the
// newest version this build carries.
//
// The versions:
//
//   - 001_core (packages checkpoint, dedup, ingest): checkpoint, a single
//     row (id = 1) holding the committed offset and the last ingested
//     transaction's update id, offset, record time and synchronizer;
//     synchronizer_time, the latest ingested record time per synchronizer,
//     from transactions and offset checkpoints alike; ingested_update, one
//     row per ingested update id, for deduplication; checkpoint_rewind, an
//     audit trail of recovery rewinds; review_transaction, transactions set
//     aside for manual review.
//   - 002_tokenstd (package tokenstd): token_holding, the treasury's
//     holdings (UTXOs); token_instruction, multi-step transfer
//     instructions; token_history, the history entries.
//   - 003_withdrawal (package withdrawal): withdrawal,
//     withdrawal_reservation, withdrawal_gate and withdrawal_gate_log.
//   - 004_tokenstd_holding_index (package tokenstd): drops token_holding's
//     index on created_update_id, which no query used.
//   - 005_dedup_record_time_brin (package dedup): replaces
//     ingested_update's B-tree on (synchronizer_id, record_time) with a
//     BRIN index on record_time.
//   - 006_token_history_kind_index (package tokenstd): drops
//     token_history's index on (kind, ledger_offset); ListEntries filters
//     kinds on the rows it reads.
//   - 007_withdrawal_ledger_node (package withdrawal): withdrawal's
//     ledger_node_id and ledger_synchronizer_id, the node and synchronizer
//     of the transaction that last moved it.
//   - 008_withdrawal_submit_attempt (package withdrawal): withdrawal's
//     submit_attempted_at, when the Automation first handed it to the
//     Submitter (set for the withdrawals still requested when it runs).
//   - 009_token_instruction_original (package tokenstd):
//     token_instruction's original_instruction_cid, the view's
//     originalInstructionCid, so that a later step of a transfer a registry
//     evolves in several steps is recognised across batches. Its backfill
//     takes the first stored instruction of a chain of replaces as the
//     original: an instruction with no stored predecessor gets none
//     (docs/OPERATIONS.md says what to check after migrating).
//   - 010_checkpoint_parties (packages checkpoint, ingest): checkpoint's
//     parties, the treasury parties ingested for (NULL until an Ingester
//     records them), so that a change of ingest.Config.Parties is refused
//     rather than skipping an added party's earlier transactions.
//   - 011_review_resolution_check (package ingest): review_transaction
//     refuses a row resolved (resolved_at) without a resolution, as
//     Ingester.ResolveSetAside does; rows resolved so before it get one
//     saying so.
//
// One foreign key links the tables: withdrawal_reservation.withdrawal_id
// references withdrawal (ON DELETE CASCADE). The other references are by
// contract or withdrawal id, without a key, on purpose:
// token_history.withdrawal_id is the transfer's reason as the ledger gave
// it, for a withdrawal this Integration DB may never have had (tokenstd
// runs without package withdrawal; the Reconciler records a lost one after
// the entry); token_instruction.input_holding_cids of an offer to the
// treasury names the sender's holdings, never stored;
// withdrawal_reservation.contract_id names a token_holding
// that withdrawal.Store.Create checked, under FOR SHARE, to be stored, live
// and the treasury's (holdings are never deleted).
//
// # Guarantees
//
//   - All-or-nothing: Migrate applies every pending migration in one
//     transaction, or none. Its locks are held until it commits: an
//     ACCESS EXCLUSIVE lock on each table a migration alters or drops an
//     index of, which waits for the open transactions that read the table
//     while later reads of it wait behind it (docs/OPERATIONS.md: bound
//     it with lock_timeout).
//   - Idempotent: migrating an up-to-date schema changes nothing.
//   - Safe under concurrency: migrators of the same schema, in any number of
//     processes, are serialised by a transaction-scoped advisory lock keyed on
//     the schema name; migrators of different schemas do not wait for each
//     other.
//   - Forward only by default: without WithTargetVersion nothing is ever
//     undone. Going down is explicit, and drops what the undone
//     migrations recorded (010 the checkpoint's parties, 009 the
//     instructions' originals, 008 the submission attempts, 007 the
//     withdrawals' ledger node and synchronizer, 003 the withdrawals and
//     002 the token standard tables while the checkpoint stays:
//     docs/OPERATIONS.md); migrating to version 0 drops every table
//     except txhistory_migration.
//   - No older binary on a newer schema: a schema with a version this build
//     does not embed (a newer release applied it) is refused with
//     ErrUnknownVersion; roll back by migrating down with the newer
//     release first.
//   - Only this build's version is written: CheckCurrent, which the
//     ingest.Ingester calls before it ingests and the withdrawal
//     Automation before each round, refuses a schema behind this build
//     (never migrated, or not yet by this release) with ErrNotMigrated
//     (run Migrate with this build first), and a newer one with
//     ErrUnknownVersion. The Ingester also checks in each batch's
//     transaction, and the Automation in each submission's, with
//     CheckCurrentTx, which holds the migration lock shared until the
//     transaction ends: a newer release migrating while they run (a
//     rolling upgrade) waits for the batch or submission in flight, and
//     the next one is refused. The writes of withdrawal.Store check the
//     same way, in their own transaction or the caller's (Create,
//     MarkFailed, opening the gate: an exchange's API servers still on the
//     older release; Disable, the brake, closes the gate whatever the
//     version), and so do ingest.Ingester.ResolveSetAside,
//     dedup.Store.PruneBefore and recovery.Apply.
//   - Safe names: schema names are validated by ValidateName and always
//     quoted in SQL; Qualify builds a quoted schema.table reference.
//
// Errors name the schema and, where one is involved, the migration version
// and file, and wrap the underlying driver error with %w. When the context
// of a call (Migrate, MigrateTx, Versions, CheckVersion, CheckCurrent,
// CheckCurrentTx) ends while a statement runs, the error wraps the
// context's too: errors.Is finds context.DeadlineExceeded or
// context.Canceled, not only the driver's words for the cancelled
// statement.
package schema
