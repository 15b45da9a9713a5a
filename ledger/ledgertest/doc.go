// Package ledgertest is a fake Canton participant for unit tests: an
// in-process gRPC server that speaks the Ledger API v2 calls txhistory uses
// (UpdateService GetUpdates and GetUpdateById, StateService GetLedgerEnd and
// GetLatestPrunedOffsets) and the admin API's
// PartyManagementService.GetHighestOffsetByTimestamp, over real loopback
// gRPC. Tests script its ledger, break it on purpose, and check what the
// client asked.
//
// # Starting one
//
//	p, err := ledgertest.New()
//	if err != nil { t.Fatal(err) }
//	t.Cleanup(p.Close)
//	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
//	if err != nil { t.Fatal(err) }
//	defer client.Close()
//
// The *ledger.Client is the ingest.Source to give ingest.New, as for a real
// participant; a test of the gRPC services themselves may instead dial
// p.Addr() with grpc.NewClient and insecure credentials.
//
// Options set the default synchronizer, the start of record time, the
// checkpoint interval, a required bearer token, the offset step (to create
// offset gaps), the admin API's behaviour (Canton 3.4 or 3.5) and whether
// the admin API has its own listener (AdminAddr).
// WithServerOptions adds the exchange's own gRPC server options to both
// servers: interceptors (for auth checks or logging, which see each call
// before the fake's token check and fault switches), message size limits,
// keepalive enforcement; not TLS, which stays WithTLS's.
//
// # Scripting the ledger
//
// Append stores transactions and wakes tailing streams. It fills in what the
// caller leaves out (offset, update id, synchronizer, record time 1ms after
// the previous one) and returns the stored copies:
//
//	txs, err := p.Append(&ledger.Transaction{Events: []ledger.Event{created}})
//	// txs[0].Offset == 1, txs[0].UpdateID == "upd-1"
//
// Record times must not decrease on a synchronizer, but may repeat, as they
// do after participant-local history changes. AdvanceTime moves a
// synchronizer's time without a visible transaction (the ledger end still
// moves, as the participant's other updates would make it; during a manual
// catch-up it queues, as appended transactions do). Prune makes old offsets
// unreadable.
//
// # Token standard transactions
//
// TokenWorld builds token standard transactions as a verbose LEDGER_EFFECTS
// stream shows them: holdings with their Holding interface views, 1-step
// transfers through a TransferFactory (Transfer, with fees, change and
// metadata), multi-step transfers (Offer, then Accept, Reject, Withdraw or
// Expire on the instruction), Mint, Burn, Lock, Unlock and MergeSplit, and
// operations wrapped in other exercises (WrapOp). It keeps the holdings and
// open offers of every party, so tests can compare balances with what an
// ingester derived. Ops (TransferOp, OfferOp, ...) combine several
// operations in one transaction with Tx. BuildDemoHistory makes a mixed
// history for a treasury; TransferHistory makes the deposits and
// withdrawals of the benchmarks by index, for AppendFunc.
//
// AppendFunc appends transactions made on demand and WithWireCache sends
// each one's encoded form from a cache, so that a million transactions fit
// in memory and a benchmark measures the client rather than the fake;
// WithCompressedWireCache keeps that cache compressed, for ledgers too big
// to hold encoded (the responses of a million transfers in about 0.35 GB).
//
// # TLS and tokens
//
// WithTLS serves the Ledger API (and the admin API) over TLS, mutual TLS
// when the configuration asks for client certificates; WithAdminTLS gives a
// separate admin listener its own configuration. NewCerts makes a
// throwaway CA with a server and a client certificate. WithToken requires
// a bearer token, SetToken changes it while running (to test refreshes).
//
// # What a stream delivers
//
// GetUpdates behaves like a participant's:
//
//   - it checks the request first, in a participant's order (a request
//     that breaks several rules gets the first one's error): negative
//     begin_exclusive or non-positive end_inclusive is INVALID_ARGUMENT, an
//     offset beyond the ledger end is OUT_OF_RANGE OFFSET_AFTER_LEDGER_END,
//     then the update format is checked, end_inclusive before
//     begin_exclusive is FAILED_PRECONDITION OFFSET_OUT_OF_RANGE, and
//     begin_exclusive below the pruning offset is FAILED_PRECONDITION
//     PARTICIPANT_PRUNED_DATA_ACCESSED with the metadata earliest_offset;
//   - it delivers the transactions with begin_exclusive < offset ≤
//     end_inclusive, offsets strictly increasing, then ends (io.EOF on the
//     client). A bounded stream sends no checkpoints. With descending_order
//     (bounded streams only) it delivers them in reverse;
//   - without end_inclusive it tails: it also delivers later appends, and
//     sends an OffsetCheckpoint (ledger end and the latest record time of
//     every synchronizer) when the ledger end has moved past the last item
//     it sent: right after a batch of transactions, or, if nothing was
//     delivered (filtered out, AdvanceTime), once the stream has been idle
//     for the checkpoint interval. Like Canton's, a stream at the ledger end
//     also gets a checkpoint at that very offset once the ledger end has
//     stayed there, and the stream idled, for the interval: at
//     begin_exclusive when it opens at a quiet ledger end, and after a
//     transaction at the ledger end. Offsets on a stream never decrease;
//     only such a checkpoint repeats one (that of the transaction before
//     it, or begin_exclusive), and no checkpoint repeats another's;
//   - the update format filters: an event stays if a filter of one of its
//     witness parties (or filters_for_any_party) selects it, by wildcard, by
//     template, or by interface (module, entity and package compared: the
//     same package id, or the same package name, as a participant resolves
//     a filter's package id to its name; names are known from
//     the package_name of the events appended to this participant and the
//     token standard's stand-in ids; an id
//     the fake cannot name is not told apart from a name; a created event
//     matches an interface it has a view for,
//     other events one they implement); a transaction with no event left is
//     not sent, which makes offset gaps. For party filters, witness_parties
//     keeps only the requested parties. Interface views (of created events)
//     and implemented_interfaces (of archived and consuming exercised
//     events; never of non-consuming ones) are kept only for interface
//     filters with include_interface_view, created_event_blob only for a
//     matching filter that asks for it. verbose=false strips record
//     labels and type identifiers and drops trailing None fields,
//     recursively. An empty Filters is a wildcard, and so are cumulative
//     filters that are all empty (one beside others is ignored);
//     TRANSACTION_SHAPE_UNSPECIFIED is INVALID_ARGUMENT, and so is a
//     template or interface id without its package, module or entity name
//     (INVALID_FIELD);
//   - TRANSACTION_SHAPE_ACS_DELTA is an approximation computed from the
//     stored events: creates and archives of contracts that outlive the
//     transaction, consuming exercises turned into archives, everything else
//     dropped; a created event that names its signatories is visible only to
//     its stakeholders (signatories and observers), not to mere witnesses,
//     and so is the archive of a contract whose create (naming its
//     signatories) was appended with Append: the receiver of a transfer
//     does not see the sender's spent holding archived;
//   - on TRANSACTION_SHAPE_LEDGER_EFFECTS the acs_delta flag of a created
//     event or consuming exercise says, as Canton's does, whether the event
//     is in the requesting parties' ACS_DELTA stream: the stored flag, kept
//     only if a witness left is a stakeholder of the contract (known as
//     above; a contract whose stakeholders the fake does not know, such as
//     one AppendFunc's generator created, keeps the stored flag);
//   - events are sent as appended otherwise: a participant's LEDGER_EFFECTS
//     stream carries created and exercised events only (an archive is a
//     consuming ExercisedEvent; ArchivedEvent belongs to the ACS_DELTA
//     shape), but an ArchivedEvent given to Append goes out on
//     LEDGER_EFFECTS as it is. Code that reads LEDGER_EFFECTS and passes
//     its tests on such archives alone misses every archive in production:
//     script archives as consuming exercises, as TokenWorld does;
//   - the ledger holds transactions only: an update format's
//     include_reassignments and include_topology_events are accepted but
//     select nothing (a tailing stream asking for nothing else carries
//     checkpoints only), where a participant on several synchronizers
//     streams reassignments and shows party allocations as topology
//     transactions. A test cannot script them, so code that handles them
//     goes untested here.
//
// GetUpdateById applies the same format, and answers NOT_FOUND
// UPDATE_NOT_FOUND for an unknown, pruned, not yet recovered or filtered out
// transaction.
//
// Errors are gRPC statuses shaped like Canton's: the message
// "ERROR_ID(category,correlation): cause" and a google.rpc.ErrorInfo detail
// whose Reason is the error id (see StatusError and the ErrorID constants).
// A missing or wrong token is UNAUTHENTICATED with a redacted message and no
// ErrorInfo, as Canton hides the cause of security-sensitive failures; so
// are all UNAUTHENTICATED, PERMISSION_DENIED, INTERNAL and UNKNOWN errors
// StatusError builds. The fake has no users and no rights: the token it
// takes reads every party, filters_for_any_party included, where a
// participant answers PERMISSION_DENIED for a party the token's user may
// not read as (or for filters_for_any_party without can_read_as_any_party).
// It never answers PERMISSION_DENIED by itself: a test of that path
// injects it (FailNext, or an Intercept hook returning StatusError).
//
// The fake is a grpc-go server: a request over its limit on received
// messages (grpc-go's 4 MiB, or a grpc.MaxRecvMsgSize given
// WithServerOptions) is refused RESOURCE_EXHAUSTED in grpc-go's words,
// "grpc: received message larger than max (N vs. M)". Canton serves with
// grpc-java and refuses a request over its max-inbound-message-size as
// "gRPC message exceeds maximum size M: N". A test of that refusal raises
// the fake's limit and refuses in an Intercept hook with Canton's words.
//
// # The admin API
//
// GetHighestOffsetByTimestamp looks at all processed updates of the
// synchronizer, unfiltered: transactions of any party, and the time
// advances (AdvanceTime) that stand for updates no stream shows; see AdminV34 and AdminV35 for the two
// behaviours, including the forced lookup that answers the ledger end for a
// timestamp the participant has not processed yet.
//
// # Backup and restore
//
// Backup and Restore replay the validator node restore runbook. After
// Restore the ledger is the snapshot's, then the updates sequenced since are
// recovered from the synchronizer with the same update ids and record times
// but new offsets (WithOffsetShift), and open streams end with UNAVAILABLE.
// WithSynchronizersFirst recovers some synchronizers' updates before the
// others', as a participant recovering each synchronizer on its own may.
// With WithCatchUp(true) the recovery waits for CatchUp, so the ledger end
// and ProcessedRecordTime lag behind as on a participant still catching up;
// transactions appended meanwhile queue behind the recovered ones.
//
// # Faults and observation
//
// Like franz-go's kfake, each call can be controlled: FailNext fails the next
// calls of a method, Intercept runs a hook before each call (to inspect
// metadata, delay, or fail with a StatusError), DropStreamsAfter breaks
// streams after n items, StallStreams freezes them, SetDelay slows them,
// ExpireTokenOnStreams aborts them with ACCESS_TOKEN_EXPIRED. Requests and
// Calls tell what the client did; a stream is open, for Prune, Restore and
// ExpireTokenOnStreams, as soon as Calls counts it.
//
// # Guarantees
//
// Every method of a Participant is safe for concurrent use (a TokenWorld's
// are not). Close ends all streams and returns after every goroutine of the
// participant has ended, promptly even with a client's stream open; called
// from within a call (an Intercept hook, an interceptor) it returns at
// once. After Close, Append and AppendFunc fail; the other methods still
// work on a ledger no client can reach. Streams also end when the client
// cancels. Participants share no state: several can run in one test.
package ledgertest
