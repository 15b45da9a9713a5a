// Package recovery is the validator node restore runbook as code.
//
// When the exchange's validator node is restored from a backup, the
// participant recovers every committed transaction from the synchronizer,
// with the same update ids and record times but new offsets. The offset in
// the Integration DB's checkpoint then means something else: resuming from
// it would skip or repeat history. Package ingest notices this and stops with
// ingest.ErrParticipantRestored; this package computes and writes the offset
// to resume from, following "Restoring the Exchange Validator Node" of the
// exchange integration guide.
//
// # The runbook
//
//  1. Stop Tx History Ingestion (CheckStopped verifies it; Apply refuses
//     while an Ingester holds the schema's lock).
//  2. Read tRecovery and the synchronizer id of the last ingested
//     transaction from the Integration DB (Plan).
//  3. Restore the validator node from the backup.
//  4. Re-upload the .dar files uploaded after the backup (Packages lists the
//     packages used since a time).
//  5. Find offRecovery with the admin API, find_highest_offset_by_timestamp
//     (Plan, after waiting until the participant has processed tRecovery).
//  6. Make ingestion start from offRecovery (Apply: one SQL transaction,
//     with an audit row in checkpoint_rewind).
//  7. Restart Tx History Ingestion.
//
// Runbook runs these steps in order and narrates them, for operator commands.
//
// # Usage
//
//	// After the node was restored, with ingestion stopped:
//	rw, err := recovery.Plan(ctx, db, client, recovery.Options{
//		Parties: []string{treasury},
//		Mode:    recovery.ModeNonUnique, // the default
//	})
//	if err != nil { ... }
//	fmt.Println(rw) // what will change, and the evidence
//	if err := recovery.Apply(ctx, db, rw); err != nil { ... }
//	// Start the Ingester again: it resumes after rw.To.
//
// client is a *ledger.Client dialled with both the Ledger API and the admin
// API endpoint (ledger.Config.Admin).
//
// # Unique and non-unique record times
//
// Record times are unique per synchronizer unless participant-local
// operations changed the history (ACS imports, party migration or
// replication, repair commands). With ModeUnique offRecovery is looked up as
// of tRecovery and ingestion resumes right after it. With ModeNonUnique, the
// default, it is looked up as of tRecovery − 1µs, ingestion resumes before
// the first transaction at tRecovery, and the ones already ingested are
// dropped by update-id dedup: no transaction is skipped when ingestion had
// stopped half-way through several transactions sharing tRecovery. Plan
// refuses ModeUnique when the participant shows that this happened.
//
// # Guarantees
//
//   - Plan writes nothing; it waits (bounded by Options.Timeout) until the
//     participant has processed tRecovery before it trusts the admin API,
//     and it never trusts a forced look-up of a time the participant has not
//     processed (Canton 3.5 answers its ledger end then). Both admin API
//     behaviours, Canton 3.4 and 3.5+, are handled.
//   - A restored participant pruned above the −1µs look-up's answer (but
//     below the last ingested transaction) cannot stream from that answer:
//     offRecovery is then its pruning offset (Rewind.PrunedUpTo), as what
//     lies at or below it was ingested when the participant is pruned only
//     below the checkpoint, as docs/OPERATIONS.md asks. A last ingested
//     transaction the participant pruned fails Plan with ledger.ErrPruned
//     as soon as the participant has processed a record time past
//     tRecovery (before that, more transactions at tRecovery, the last
//     ingested one among them, may still come): restore a node backup
//     taken before that pruning.
//   - Apply writes the new offset, the record time of the synchronizer and
//     the audit row in one SQL transaction, and only if the checkpoint is
//     still the one Plan read and no Ingester holds the lock.
//   - When the context of Plan, Apply, Packages or Runbook.Run ends while a
//     statement runs, the error wraps the context's too: errors.Is finds
//     context.DeadlineExceeded or context.Canceled, not only the driver's
//     words for the cancelled statement.
//   - After Apply, ingesting to the end leaves the database as if the node
//     had never been restored: same update ids, same effects, no duplicate,
//     no gap, when the treasury's transactions are on one synchronizer, or
//     when the restored participant interleaves the synchronizers as
//     before (see Limits).
//
// # The validator node and the Integration DB both restored
//
// When both are restored in one incident, the Integration DB restore
// procedure (withdrawal.RestoreProcedure) runs around both, its withdrawal
// gate closed throughout, and this runbook runs inside it, after both
// restores and against the restored Integration DB, before ingestion starts
// again (a rewind applied before the Integration DB restore is undone by
// it). It is needed when the Integration DB backup is newer than the node
// backup: its checkpoint names offsets that the restored node numbers
// differently. Ingestion started without it stops with
// ingest.ErrParticipantRestored when it can tell, but not always (a
// checkpoint moved past the node backup by OffsetCheckpoints alone, on a
// participant caught up past it). With an Integration DB backup older than
// the node backup, its offsets are the node backup's too: Plan finds
// Restored false, and the rewind only replays what dedup drops. With an
// Integration DB backup taken before anything was ingested (its checkpoint
// moved by OffsetCheckpoints alone) there is no tRecovery: Plan fails with
// ErrNothingIngested, whose error gives the statements that reset the
// checkpoint (nothing needs replaying, but its offset may be of the old
// numbering). docs/OPERATIONS.md lists the steps.
//
// # Limits
//
// The runbook rewinds one synchronizer, the one of the last ingested
// transaction, as the integration guide's runbook does. A restored
// participant keeps each synchronizer's transactions in their order, but it
// may interleave the transactions of different synchronizers differently
// under the new offsets. With the treasury's transactions on several
// synchronizers, two things can then happen to another synchronizer's
// transactions. One not ingested yet may land at or below the look-up's
// answer: Plan therefore also looks up each other synchronizer the
// Integration DB has a record time tS for (Rewind.OtherSynchronizers), as
// of tS − 1µs, and lowers offRecovery to that answer when it is lower, so
// that resuming skips none of them (when nothing lies at or before that
// time there, to where the participant now has the last transaction
// ingested at tS, in the dedup table: the participant keeps each
// synchronizer's order; if it cannot tell, as for a synchronizer the
// treasury never had a transaction on, known from OffsetCheckpoints alone,
// where the participant has no update before tS, to just below the
// treasury's first transaction there up to offRecovery, read from the
// participant's pruning offset, and not at all if there is none; 0, a
// replay of the whole ledger that needs every dedup row, with a
// Participant that does not stream updates). It does so for
// a synchronizer the participant has processed a record time after tS of, and for one it has
// processed tS of but nothing after, if it has an update at tS after those
// the Integration DB ingested there (the dedup table's, looked up on the
// participant; record times are not unique) or cannot tell. One it has
// processed less of (still catching up, no longer connected) has numbered
// none of its transactions not ingested yet, and those come after
// offRecovery. Lowered so,
// offRecovery makes ModeUnique replay too, and Plan then needs the last
// ingested update in the dedup table (ErrDedupMissing). One already
// ingested may land above offRecovery: it is read again and dedup drops it,
// though its record time lies behind the one ingested for its
// synchronizer, if it comes before the last ingested transaction in the
// replay (the Ingester tolerates that only there). After it, such a
// transaction stops ingestion with ingest.ErrParticipantRestored rather
// than hide a transaction the new order put below, and running the
// runbook again plans the same rewind: the other synchronizers' record
// times are not rewound, and ingestion does not get past that
// transaction (no way out is built). Letting it pass would be unsafe: the
// same order is what a transaction of a synchronizer the Integration DB
// has no record time for, numbered below offRecovery, looks like. Such a
// synchronizer cannot be looked up (no record time was ingested there),
// so Plan lists the synchronizers the participant reports in the first
// OffsetCheckpoint on a stream at its ledger end (ledger.Client's
// SynchronizerTimes; Canton sends it within about a minute when the
// ledger is quiet). For those the Integration DB never saw
// (Rewind.UnknownSynchronizers) it reads the treasury's transactions from
// the participant's pruning offset up to offRecovery (their transactions
// all lie after the node backup's ledger end, at or above that offset)
// and puts offRecovery just below the first on one of them, if there is
// one (Rewind.UnknownScan); with a Participant that does not stream
// updates, at 0, a replay of the whole ledger. It sees only those the
// participant has a record time of when Plan runs: one it has not reconnected to yet is missed, and
// its transactions numbered below offRecovery would be skipped, so check
// the participant's connected synchronizers before applying (Runbook's
// step 5 asks for it, naming the synchronizers to compare). It does so
// even when the participant has the last ingested transaction where it
// was ingested: the restored participant may have moved another
// synchronizer's transaction after it and one of the unseen
// synchronizer's before it, leaving its offset as it was.
// Both need the dedup rows: prune the dedup table no further than the oldest backup that may be restored
// (dedup.Store.PruneBefore). Plan lists the other synchronizers in
// Rewind.OtherSynchronizers, String and Lookups, and logs a warning;
// Runbook narrates it and Apply's audit row names them; the look-up that
// lowered offRecovery, if one did, is Rewind.LoweredBy, which String, the
// narration and the audit row name. Synchronizers the participant is only
// connected to appear as well (their record times come from
// OffsetCheckpoints).
//
// Plan needs the last ingested update on the restored participant: it
// checks the look-up's answer against that update's offset. A last
// ingested update that was a participant-local operation (an ACS import,
// party migration or repair) made after the backup is lost with the
// restore, and Plan waits for it until Options.Timeout (ErrNotCaughtUp,
// saying so). Redo the operation on the restored node before resuming;
// the runbook's rewind for that case (from the −1µs look-up, trusting it
// once the participant has processed a later record time) is not built.
//
// Any participant-local operation made after the node backup is lost with
// the restore, not only a last ingested one: what the Integration DB took
// from it stays (the holdings an ACS import brought, say), which the
// restored node no longer has until the operation is redone. Redone, it
// is a new update (another update id, at a record time the node has now)
// that creates the contracts again under their old contract ids: package
// tokenstd's History refuses a treasury holding the Integration DB holds
// already ("one is stored already", naming the contract), so ingestion
// halts on that update, naming it, or, under ingest.PoisonSetAside, sets
// it aside for review (which holds withdrawal expiry and the Integration
// DB restore gate until it is resolved). What the lost original brought
// is stored already: resolve it once you have checked that the redone
// operation brings nothing else.
package recovery
