// Package ingest streams a Canton participant's updates for the treasury
// party into PostgreSQL, one SQL transaction per batch.
//
// Each batch's SQL transaction holds, together or not at all:
//   - the update ids of its transactions (package dedup), so that a
//     transaction already ingested is never applied again;
//   - the effects written by the Handler (token standard history,
//     withdrawal reconciliation, the exchange's own tables);
//   - the new checkpoint (package checkpoint): offset, the last transaction's
//     update id, record time and synchronizer, and the record time reached on
//     each synchronizer, advanced by OffsetCheckpoints as well.
//
// A crash at any moment therefore leaves the database at a batch boundary, and
// Run resumes from the stored offset.
//
// The checkpoint also records the parties ingested for (Config.Parties, as
// a set): a Run with other parties would resume from the stored offset and
// never ingest an added party's earlier transactions, so Run refuses it
// with ErrPartiesChanged, unless Config.AcceptPartiesChange says to go on
// (recording the new parties). A checkpoint from before schema version 010
// has none recorded: Run records Config.Parties.
//
// Transient faults (participant unavailable, broken stream, lost database
// connection) are retried with exponential backoff and jitter; authentication failures, pruned offsets,
// malformed updates and handler errors stop Run with an error naming the
// offset (and the update id of a transaction it concerns).
//
// # Usage
//
//	if err := schema.Migrate(ctx, db); err != nil { ... }
//	ing, err := ingest.New(db, client, ingest.Config{
//		Parties: []string{treasury},
//		Handler: ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
//			for _, t := range b.Transactions {
//				// write t's effects with tx
//			}
//			return nil
//		}),
//	})
//	err = ing.Run(ctx) // until ctx ends, Stop, EndOffset, or a fatal error
//
// # Pipelining
//
// Decoding runs ahead of the database: a goroutine reads and decodes the
// stream into a buffer of Config.StreamBuffer updates while the current
// batch is written. Config.StreamBufferBytes bounds the same in bytes,
// together with the batch being built or committed, so that memory stays
// bounded when transactions are much bigger than usual. A Handler that is
// also a Preparer gets part of its own work done there too: its Prepare
// is called for each transaction as it arrives, and HandleBatch finds the
// result with Batch.Prepared. The token standard History handler
// classifies each transaction that way, and uses the result unless the
// transaction turns out to spend treasury holdings.
//
// Batches overlap too: a batch's SQL transaction is opened, and its first
// part done, while the batch before it is still being written and committed
// on another connection. That part is the dedup claim and, for a Handler
// that is also a Reader, its ReadBatch: reads that HandleBatch needs, which
// Batch.Read then says may lack the batch before's effects (the History
// handler adds them, from what it wrote itself). HandleBatch, the
// checkpoint and COMMIT of a batch run only after the batch before has
// committed, so handlers see every earlier batch, as without the overlap
// (batches run at READ COMMITTED, whatever the database's default; a batch
// begun early turns idle_in_transaction_session_timeout off for itself, as
// it is idle while it waits); the checkpoint's compare-and-set makes a batch fail rather than commit
// past one that did not. A batch that fails is committed again on its own,
// and the next one started again after it. The overlap needs a third
// connection (the ingestion lock holds one): with sql.DB.SetMaxOpenConns(2)
// batches are committed one after the other; a pool of one connection is
// refused (ErrPoolTooSmall) unless Config.Lock is LockNone. Ingesters
// sharing one pool (one per schema) each hold a connection for their lock:
// allow each 2 (3 to overlap) beside what else uses the pool. While the lock
// holds one, the checkpoint's load or a batch that finds no other free
// within Config.LockCheck, the ingestion locks of the process holding all
// the pool allows, fails Run with ErrPoolExhausted rather than wait for
// ever (one the application holds is waited for). Memory: up to two
// batches and the buffer are decoded at once, within StreamBufferBytes.
//
// # Restored participants
//
// If the participant was restored from a backup its offsets change. A
// transaction whose record time goes back on its synchronizer, a last
// ingested transaction the participant no longer has at the offset it was
// ingested at, or a ledger end that went back below a checkpoint the
// participant streamed (even with the last ingested transaction still
// where it was: the offsets after it may have changed), stops Run with
// ErrParticipantRestored; the batch it is in is not written. Only a
// checkpoint from Config.StartOffset, beyond the ledger end before
// anything was streamed, is waited for. Run the validator node restore
// runbook first. In the replay after the runbook's rewind, up to the last
// transaction ingested before it, a transaction dedup knows is dropped
// whatever its record time: the runbook rewinds the record time of one
// synchronizer, and the others' transactions ingested before come again.
// The replay ends there, or at the first transaction of that
// synchronizer whose record time is after it. Until then the checkpoint
// keeps naming the last transaction ingested before the rewind, with its
// offset unknown, so a process restarted in the middle of the replay
// resumes it, and the runbook run again plans the same rewind (or a
// shorter one, if the replay committed since what the plan had to reach
// back for: another synchronizer's late transactions). Such a
// process first checks that the participant has that transaction after
// the checkpoint offset: one restored again since the rewind stops Run with
// ErrParticipantRestored.
package ingest
