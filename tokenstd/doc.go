// Package tokenstd turns the treasury party's transactions into an
// exchange's token history: which deposit to credit to which account, which
// withdrawal went out and what it cost, and which holdings (UTXOs) the
// treasury owns. It reads the Canton token standard v1 interfaces (HoldingV1
// Holding, TransferInstructionV1 TransferInstruction and TransferFactory),
// not one registry's templates, so it works for Amulet and for any other
// token standard implementation.
//
// The input is the treasury's update stream in the shape the exchange
// integration guide prescribes: LEDGER_EFFECTS transactions, verbose, with
// a wildcard filter plus interface filters (include_interface_view) for the
// three interfaces (ledger.TokenStandardInterfaces). In that shape an
// archive shows as a consuming exercise; the package handles those and
// ArchivedEvent alike.
//
// # Decoding
//
// The Decode functions read verbose values into typed structures —
// HoldingView, Lock, Instrument (admin + id), Metadata, Transfer,
// TransferInstructionView, the TransferFactory_Transfer argument, the
// TransferInstruction choices' extra arguments and TransferInstructionResult
// (pending, completed, failed) — with amounts as exact decimals parsed by
// ledger.ParseDecimal, never floats. Records must have exactly the fields of
// their v1 type: a missing field, a field of the wrong type or a malformed
// numeric is a *ledger.ValueError naming the path ("transfer.amount"). A
// numeric is malformed when it is not plain decimal text ("", "1e5" and
// "+1" are not) or has more than 38 significant digits or more than 37
// after the point (ledger.ParseDecimal); an amount is refused when
// negative too. Its scale is not checked against the field's Daml type:
// an amount of 11 decimals in a Decimal (Numeric 10) field is stored
// exactly as sent, not rounded. A
// field v1 does not have, a record typed by another version's module, or a
// view of a HoldingV2 interface wraps ErrUnsupportedVersion. MergedMetadata
// merges an exercise's metadata in the documented order, later wins:
// transfer.meta, extraArgs.meta, the argument's meta, the result's meta.
//
// # Classifying
//
// Classify walks a transaction's events in node order and returns its
// history entries for the treasury:
//
//	set := tokenstd.NewHoldingSet()          // the treasury's holdings so far
//	entries, err := tokenstd.Classify(tx, treasury, set)
//	if err != nil {
//		return err // a *ParseError naming update id, offset and node
//	}
//	set.Apply(entries)
//	for _, e := range entries {
//		switch e.Kind {
//		case tokenstd.KindDeposit:
//			credit(e.Account, e.Instrument, e.Amount)
//		case tokenstd.KindWithdrawal:
//			completed(e.WithdrawalID, e.UpdateID, e.RecordTime)
//		}
//	}
//
// An exercise of TransferFactory_Transfer, or of any choice whose merged
// metadata says tx-kind = transfer, is one transfer; the events below it
// are its sub-events and are not looked at again. A choice with another
// tx-kind (burn, mint, merge-split, one of its own) is one operation too,
// unless a transfer is below it (a standard choice exercised through its
// interface, or a choice whose metadata says tx-kind = transfer): a
// transfer is no part of a burn or a mint, and the tx-kind may be its
// caller's free text (a depositor's own choice around her deposit), so the
// transfers below it are the operations. The treasury's net change
// is the amount of its holdings created inside it minus that of its
// holdings archived inside it; an archive carries no amount, so archived
// holdings are looked up in the holding set (a HoldingLookup). A holding
// the set does not know is taken not to be the treasury's, so the set must
// hold all of them: with the History handler, ingestion must start before
// the treasury's first holding was created (ingest.Config.StartOffset).
// The treasury's own transfer (TransferFactory_Transfer, a withdrawal, an
// offer or a merge) names its inputs: one spending an input the set does
// not know is a ParseError naming the holding, not a withdrawal with a
// made-up amount and fee. Other operations spending such a holding (a
// burn, a registry's merge-split) are booked without it. Transfers
// nested in other exercises — a wallet batch, an automation's choice — are
// found by descending into them. Multi-step transfers are followed through
// their TransferInstruction: the offer (transfer_offer_in/out, pending), then
// accept (a deposit or withdrawal), reject, withdraw, or expiry. An
// instruction ended by a registry's own choice is the transfer done if the
// choice says tx-kind = transfer and the funds moved that way; still
// pending if the choice, or the transaction around it without moving the
// funds, created a new instruction whose view names it (or its original)
// as originalInstructionCid; else a failed or expired one. When such a
// choice closes several instructions, an incoming one is done only if the
// treasury gained exactly its amount (inside the choice that closed it,
// when the sender got funds back there or several offers from different
// depositors have that amount), an outgoing
// one if its receiver got a holding of it; incoming ones that cannot be
// told apart, and outgoing ones that cannot (several paid,
// or the loss would pay more than the one seen paid) are a ParseError, for
// review, rather than a guess that would refund a paid withdrawal.
// A tx-kind transfer whose metadata names no sender is from the treasury
// when the treasury's funds left and another party got a holding. A
// tx-kind transfer from the treasury that cost it only the burned fee and
// gave no one else a holding, or that names no sender and gave no one else
// a holding, is a transfer to itself: merge_split, as through
// TransferFactory_Transfer; one whose metadata names another sender and
// that cost the treasury funds is neither (an other entry). Named or not,
// the treasury is the sender of a tx-kind transfer that spent its
// holdings, unless one of its instructions
// closed there, only if it acts in it (the exercise's or one below it):
// a holding its instrument's admin alone signed is the admin's to
// archive, and such a loss is no withdrawal (an other entry).
// Merge-splits, burns, mints, locks and unlocks have kinds of their own.
// Events that do not concern the treasury give no entry. A contract whose
// Holding view names the treasury as owner is the treasury's holding only
// if the view's instrument admin signed it: the view is the template's own
// claim, and anyone may create a contract with the treasury as observer. The
// treasury's signature is not enough: a choice the treasury exercises on
// another party's contract runs that party's code with its authority.
// Likewise a contract whose TransferInstruction view names the treasury as
// sender or receiver is its instruction (an offer, a successor) only if the
// view's instrument admin signed it and, when the treasury is the sender,
// the treasury did too (its instruction locks its funds): another is
// ignored, not an error, and moves no withdrawal whatever reason it names.
// A standard choice on an instruction not known to be the treasury's has
// the treasury as sender only if the treasury exercised it or its holdings
// were spent inside it with its authority (the treasury acts in an
// exercise inside it, as in the archive of a holding it signed): the
// choice's metadata, which its caller and the contract's implementation
// write, does not make it so. Nor is the
// treasury the sender of a TransferFactory_Transfer it did not exercise
// (the interface makes the sender the controller; a template may have a
// choice of that name), whatever the argument's transfer.sender says. A
// template's own choice of a standard name (exercised without an
// interface) whose argument or result is not of the standard's type is
// any other choice, not malformed input. The
// withdrawal id of the treasury's instruction is its own reason (or, if it
// has none, that of the result of the instruction's choice), never one
// from the metadata its receiver passes to the choice.
// Treasury holdings that change outside any recognised operation give a
// lock, unlock, merge_split or other entry, so that the entries of a
// transaction always add up to the treasury's balance change. Entry
// documents each field and Kind each kind.
//
// A deposit's account is its reason metadata, passed through the
// Classifier's AccountFunc (DefaultAccount unless configured); a deposit
// without a usable account is KindDepositUnassigned, recorded for manual
// handling, never dropped.
//
// # The History handler
//
// History plugs into the Ingester as an ingest.Handler. In each batch's SQL
// transaction it classifies the new transactions, resolving archived
// holdings from its holding table and from holdings created earlier in the
// batch, and writes with a few multi-row statements:
//
//   - token_holding: the treasury's holdings, with where each was created
//     and archived; Balances and LiveHoldings read it.
//   - token_instruction: transfer instructions to and from the treasury and
//     their outcome; PendingInstructions lists the open ones.
//   - token_history: the entries, unique on (update id, node id, kind,
//     instrument); ListEntries reads them.
//
// The tables are created by migration 002_tokenstd of package schema:
//
//	if err := schema.Migrate(ctx, db, schema.WithSchema("txhistory")); err != nil {
//		return err
//	}
//	history, err := tokenstd.NewHistory(tokenstd.Config{
//		Treasury: treasuryParty,
//		Credit:   tokenstd.CreditFunc(creditDeposit), // the exchange's hook
//	})
//
// The DepositCrediter is called for each new deposit in the same SQL
// transaction, so a deposit is credited exactly when it is recorded. It may
// answer ErrUnknownAccount to have the deposit kept as unassigned.
//
// # Reading while ingestion runs
//
// The read functions (Balances, LiveHoldings, HoldingsByID,
// PendingInstructions, ListEntries) and RenumberAfterRestore take the
// schema by name and refuse an empty one, where Config.Schema and the other
// packages' options default to schema.DefaultName: with several treasuries
// in one database (one schema each), a name left unset would read another
// treasury's books. Pass Config.Schema's value, or schema.DefaultName.
//
// Each batch's rows commit at once, so a reader never sees part of a
// batch. Balances, LiveHoldings and PendingInstructions read in one
// statement each; ListEntries in three (the entries, then their holdings
// and instructions). A reader that wants a page, its holdings and the
// balances to agree with one another runs them in one read-only REPEATABLE
// READ transaction and passes it as q; under READ COMMITTED an entry's
// holding may already show a later archive. An entry's Created or Archived
// holding that the holding table lacks (one created before ingestion
// started) has its contract id only. Paging with EntryFilter.AfterSeq sees
// every entry once, in ingestion order, until an Integration DB restore:
// after it (and RenumberAfterRestore) what was ingested since the backup
// comes again at new Seq values, to drop by the entry's key (a deposit
// may come back as deposit_unassigned, or the other way round, when the
// DepositCrediter now answers otherwise: match the two). Readers'
// transactions block pg_restore's DROP of these tables: end them before
// restoring. When a reader's context ends while a statement runs, the
// error wraps the context's too: errors.Is finds context.DeadlineExceeded
// or context.Canceled, not only the driver's words for the cancelled
// statement.
//
// # Bad input
//
// A transaction that cannot be read — missing fields, wrong value types,
// malformed numerics, unknown interface versions, a failed interface view,
// events that contradict each other — yields a *ParseError with the update
// id, offset and node id, never a panic and never a silent skip. The
// exceptions are what cannot change the treasury's books, which any party
// can put before the treasury by making it an observer of its contracts:
//
//   - An interface view that failed or cannot be read of a contract the
//     treasury did not sign that is not a holding naming the treasury as
//     owner signed by its instrument's admin (as far as the view can be
//     read). Such a view is its template's code: it is ignored, as the
//     contract would be if read. (A holding of a registry whose owners do
//     not sign their holdings, with a view that failed outright, is
//     ignored too: nothing in it can be read. Unless it was created in a
//     standard transfer choice — TransferFactory_Transfer, or a choice on
//     an instruction whose transfer is known — signed by the transfer's
//     instrument admin, and the registry says it is the treasury's: the
//     result names it as a holding the receiver got, of a completed
//     transfer to the treasury, or as the sender's change, of the
//     treasury's own transfer; or the treasury is its stakeholder in its
//     own transfer (the funds it locks for an offer), the result does not
//     name it as another receiver's holding, and the transfer does not
//     archive it. That is a holding of the treasury's whose amount cannot
//     be read, and a ParseError.)
//   - A choice of an interface named as a token standard one (module names
//     are not reserved) whose version this package does not read, or whose
//     argument or result is not of the standard's types, in whose subtree
//     the treasury neither acts, nor signs a contract created, nor gets a
//     holding signed by its instrument's admin, nor has a holding or an
//     instruction consumed: it is read as any other choice.
//   - Anything of an instrument not listed in Config.Instruments (when the
//     list is not empty): its holdings, its transfer instructions and its
//     TransferFactory_Transfer choices are ignored, as forged contracts
//     are, however malformed. Anyone can be the admin of an instrument of
//     their own, so that a holding its admin signed names the treasury
//     proves nothing else; with the default empty list, malformed data of
//     such an instrument halts ingestion. An exchange should list the
//     instruments it supports.
//
// By default (Halt) the handler returns the *ParseError and the batch is
// not committed; with SetAside the transaction goes to the
// review_transaction table (with the error and its protobuf JSON) and
// ingestion goes on.
//
// Metadata is its writers' free text (a depositor writes transfer.meta
// and extraArgs.meta): a NUL character in it, which PostgreSQL cannot
// store, reads as U+FFFD rather than making the deposit unstorable, and a
// reason holding one names no account (DefaultAccount).
//
// # Guarantees
//
//   - Exact: amounts are decimals end to end, NUMERIC in PostgreSQL.
//   - Conserving: for every entry, Amount is the sum of its created minus
//     its archived treasury holdings; for a withdrawal Amount equals
//     −(Transferred + Fee). Over a history, deposits − withdrawals − fees
//     (plus mints and other entries) equal the balance change.
//   - Idempotent: the handler skips transactions whose entries are stored;
//     its inserts do nothing on conflict; the crediter is called once per
//     deposit.
//   - Deterministic: the same transaction and holding set give the same
//     entries.
package tokenstd
