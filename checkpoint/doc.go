// Package checkpoint stores where ingestion stands: the offset of the last
// update committed (a transaction or an OffsetCheckpoint), the update id,
// record time and synchronizer of the last ingested transaction, and the
// record time reached on each synchronizer; and the treasury parties
// ingested for (Checkpoint.Parties, written by Init and SetParties only,
// which package ingest compares with its configuration).
//
// The checkpoint is written in the same SQL transaction as the effects of the
// batch it closes (see package ingest), so the database is always at a batch
// boundary: after a crash, ingestion resumes from Checkpoint.Offset.
//
// Record times here are the ledger's clock: withdrawal expiry, tSafe of the
// Integration DB restore and tRecovery of the validator node restore are all
// read from this store, never from a wall clock.
//
// When the context of a Store method ends while a statement runs (Get,
// Rewinds, SetParties, Init), the error wraps the context's too: errors.Is
// finds context.DeadlineExceeded or context.Canceled, not only the
// driver's words for the cancelled statement.
//
//	store, _ := checkpoint.NewStore("txhistory")
//	cp, found, err := store.Get(ctx, db)
//	fmt.Println(found, cp.Offset, cp.UpdateID, cp.RecordTime, err)
package checkpoint
