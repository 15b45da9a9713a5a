// Package withdrawal keeps the exchange's withdrawal requests and follows
// them through their life cycle on the ledger, so that no withdrawal is paid
// out twice — not even after the Integration DB was restored from a backup.
//
// # The pieces
//
//   - Store: the requests (table withdrawal), the treasury holdings (UTXOs)
//     they reserve (withdrawal_reservation) and the withdrawal gate
//     (withdrawal_gate, withdrawal_gate_log), created by migration
//     003_withdrawal of package schema. The exchange's internal systems call
//     Create; every write has a form in the caller's SQL transaction. Every
//     write first checks the schema's version in its transaction
//     (schema.CheckCurrentTx): during a rolling upgrade, once a newer
//     release has migrated the schema, this release's writers (Create in
//     the API servers still on it, MarkFailed, Enable, the Automation)
//     refuse with schema.ErrUnknownVersion and write nothing; a schema not
//     yet migrated by this release they refuse with schema.ErrNotMigrated.
//     Disable, the brake, closes the gate whatever the version.
//   - Reconciler: an ingest.Handler that runs after the tokenstd History
//     handler in the ingestion batch and moves withdrawals as the ledger
//     shows their transfers; it expires those whose target record time
//     trecTgt the ingested record time has passed, and re-creates, through a
//     RecoveryHook, those whose request it does not know.
//   - Automation: the Withdrawal Automation loop, handing requested
//     withdrawals to the exchange's Submitter while the gate is open.
//   - RestoreProcedure: the runbook for restoring the Integration DB.
//
// # Usage
//
//	if err := schema.Migrate(ctx, db); err != nil { ... }
//	store, err := withdrawal.NewStore(db, withdrawal.Config{
//		Treasury: treasury,
//		Refunder: withdrawal.RefundFunc(creditBack), // the exchange's: user funds back
//	})
//	history, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury})
//	reconciler, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{History: history})
//	ing, err := ingest.New(db, client, ingest.Config{
//		Parties: []string{treasury},
//		Handler: ingest.Handlers(history, reconciler), // this order
//	})
//	ingErr := make(chan error, 1)
//	go func() { ingErr <- ing.Run(ctx) }() // a fatal error ends Run: stop the service on it
//
//	auto, err := withdrawal.NewAutomation(store, withdrawal.AutomationConfig{Submitter: submitter})
//	go auto.Run(ctx)
//
//	// The exchange's internal systems, when a user asks:
//	w, err := store.Create(ctx, withdrawal.Request{
//		ID: "wd-8841", UserAccount: "user-17", Amount: amount, Instrument: amulet, Receiver: party,
//		ReservedHoldings: cids, ReservedFunds: amount.Add(maxFee), TrecTgt: now.Add(ttl),
//	})
//	if errors.Is(err, withdrawal.ErrWithdrawalsDisabled) { ... try later ... }
//
// # Life cycle
//
// A request starts requested. The automation submits it (submitted). The
// ledger then shows a 1-step transfer with the withdrawal id as its reason
// (completed), or a transfer instruction for a receiver without transfer
// pre-approval (pending_acceptance) that the receiver accepts (completed),
// rejects (rejected), that the treasury withdraws (withdrawn) or that
// expires (expired); a registry that replaces the instruction with a
// successor leaves it pending_acceptance, on the successor. A receiver
// without pre-approval makes the 1-step submission fail (failed, written
// by the automation). A request whose trecTgt the ingested record time
// passes with no transfer seen is expired. An instruction's deadline
// passing moves nothing by itself: it is expired (or withdrawn) when the
// ledger shows a choice that ends it, which neither the library nor its
// automation exercises. A withdrawal stays pending_acceptance, its funds
// locked on the ledger and its user not credited back, until then:
// tokenstd.PendingInstructions lists the open instructions with their
// ExecuteBefore and their reason, the withdrawal id (in
// Transfer.Meta[tokenstd.MetaReason], or in Instruction.Reason when the
// transfer's metadata has none); have the treasury withdraw those past it.
// The same when the lock, expired, is released apart from the instruction
// (Amulet's owner may unlock an expired LockedAmulet): the funds are back
// in the treasury's holdings, but the withdrawal stays pending_acceptance,
// its user not credited back, until the instruction is withdrawn too.
// Transitions() lists the allowed moves.
//
// Every move is one SQL statement — an UPDATE guarded by the allowed
// from-statuses that also drops the holding reservations — in the batch's
// or the caller's transaction. When a withdrawal ends without paying out
// (failed, expired, rejected, withdrawn) the Refunder credits the user
// back, in the same transaction, exactly once. Repeating a move that
// happened (the same transaction, or an older one) changes nothing, so
// replaying ingestion is harmless; a move the status does not allow is a
// *TransitionError, and when the ledger itself shows one — a transfer of a
// withdrawal already paid out or refunded — the Reconciler reports an
// *Anomaly, by default as the Handler's error: ingestion stops (under
// ingest's PoisonSetAside, the transaction is set aside for review
// instead).
//
// # Which transfers are withdrawals
//
// A history entry is a withdrawal outcome when the treasury sent the
// transfer (tokenstd sets WithdrawalID to its reason then; a transfer
// instruction the treasury did not sign is not the treasury's, whatever its
// view and reason say) and that reason passes Config.IsWithdrawalID (DefaultWithdrawalID: non-empty, no
// surrounding white space or control characters, at most MaxIDLen bytes).
// Treasury transfers to itself (merges), and their transfer instructions,
// are not withdrawals: a request to pay the treasury itself is never
// completed, and ends (expired, or failed) with its refund. An exchange
// that also pays from the treasury for other purposes should give its
// withdrawal ids a recognisable form and check it in IsWithdrawalID; Create
// refuses ids that fail it, so every request can be matched.
//
// # Restoring the Integration DB
//
// Ingestion's own writes come back by re-ingesting, but the requests
// written after the backup are lost while their transfers may be in flight.
// RestoreProcedure closes the gate, lets the operator restore, and opens
// the gate only once the ingested record time is past tSafe (now + ttl, or
// given), when every transfer that could still commit has been ingested.
// Meanwhile the Reconciler completes restored requests whose transfers it
// sees, expires restored ones that lapsed, and re-creates lost ones from
// the ledger with the RecoveryHook: the default one fills in what the
// ledger carries (id, amount, instrument, receiver, update id, record time,
// fee) and marks them recovered; an exchange that puts the user account on
// the transfer's metadata can read it back in its own hook (Outcome.Meta).
// If the database is restored again before the gate opens, the procedure
// closes the restored gate again and goes on waiting; until it has, Create
// and the Automation count that gate (the backup's, open most likely) as
// closed all the same, as the procedure holds a lock until it returns
// (Gate.RestoreWaiting). With the validator
// node restored in the same incident, run the node runbook (package
// recovery) inside the procedure, after both restores and before
// ingestion starts again (docs/OPERATIONS.md).
//
// # Guarantees
//
//   - A holding is reserved by at most one open withdrawal (a primary key),
//     and only a live, unlocked treasury holding of the instrument can be
//     reserved.
//   - Once Disable returns, no Create commits and no submission starts until
//     the gate is opened again; EnableAfter opens it only if the ingested
//     record time, read in the same transaction, is past tSafe.
//   - A withdrawal whose transfer is on the ledger is never expired: the
//     Reconciler applies a batch's transfers before its expiry, and a
//     transfer cannot commit after its deadline trecTgt (the Submitter
//     sets executeBefore to trecTgt less the synchronizer's ledger-time
//     tolerance, as Submitter says). This needs the
//     clock to cover the synchronizer the transfer commits on: the
//     request's (Request.SynchronizerID), Config.Synchronizer, or one of
//     Config.Synchronizers; with none of them set, a synchronizer nothing
//     has been ingested from yet does not hold the clock back (see
//     Config.Synchronizers).
//   - Record time is the clock: trecTgt and tSafe are compared with ingested
//     record times, never with this process's clock.
//   - When the context of a Store method, a read (Get, ListByStatus, Gate,
//     GateLog, IngestedTime, Reservations and their Tx forms) or a write,
//     or of an Automation round ends while a statement runs, the error
//     wraps the context's too: errors.Is finds context.DeadlineExceeded or
//     context.Canceled, not only the driver's words for the cancelled
//     statement.
package withdrawal
