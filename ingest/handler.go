package ingest

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
)

// Batch is what a Handler sees: the new transactions of one SQL transaction,
// and where ingestion stands once it commits.
type Batch struct {
	// Transactions not ingested before (update-id dedup has already removed
	// replays), in offset order.
	Transactions []*ledger.Transaction
	// Checkpoints are the OffsetCheckpoints received in this batch, in
	// order. Checkpoints that change nothing (the committed offset and
	// record times again, as Canton sends an idle stream) make no batch of
	// their own: the Handler sees them only with other updates.
	Checkpoints []*ledger.OffsetCheckpoint
	// FromOffset is the checkpoint offset before the batch (exclusive);
	// ToOffset the one it commits. A batch handled one transaction at a
	// time (PoisonSetAside) is handed over as batches that end at each
	// transaction: their offsets and RecordTimes are those reached there.
	FromOffset, ToOffset int64
	// RecordTimes holds, per synchronizer, the record time ingestion will have
	// reached once the batch commits (from its transactions and checkpoints,
	// never going backwards).
	RecordTimes map[string]time.Time
	// Skipped counts the transactions of the range that dedup dropped.
	Skipped int

	prepared  map[*ledger.Transaction]any // what the Handler's Prepare returned, by transaction
	read      any                         // what the Handler's ReadBatch returned for the batch
	readEarly bool                        // ReadBatch ran before the batch before it committed
}

// Prepared returns what the Handler's Prepare returned for t, which must be
// one of b.Transactions, or nil: when the Handler is not a Preparer, when
// Prepare returned nil, or when the Ingester did not call it (a batch a test
// or another component made).
func (b *Batch) Prepared(t *ledger.Transaction) any {
	if b == nil || b.prepared == nil {
		return nil
	}
	return b.prepared[t]
}

// WithPrepared returns a copy of b whose Prepared returns prepared(t) for
// each of its transactions: for tests of a Preparer, and for handlers that
// run others.
func (b *Batch) WithPrepared(prepared func(t *ledger.Transaction) any) *Batch {
	c := *b
	c.prepared = make(map[*ledger.Transaction]any, len(b.Transactions))
	for _, t := range b.Transactions {
		if v := prepared(t); v != nil {
			c.prepared[t] = v
		}
	}
	return &c
}

// Read returns what the Handler's ReadBatch returned for the batch, nil if
// the Ingester did not call it (a Handler that is not a Reader, a batch
// handled one transaction at a time, a batch a test made). early says that
// ReadBatch ran while the batch before this one (the one that ends at
// FromOffset) was still being written: what it read lacks that batch's
// effects.
func (b *Batch) Read() (v any, early bool) {
	if b == nil {
		return nil, false
	}
	return b.read, b.readEarly
}

// WithRead returns a copy of b whose Read returns v and early: for tests of
// a Reader, and for handlers that run others.
func (b *Batch) WithRead(v any, early bool) *Batch {
	c := *b
	c.read, c.readEarly = v, early
	return &c
}

// Handler writes a batch's effects. It runs inside the SQL transaction that
// also stores the dedup rows and the checkpoint: its writes commit with them
// or not at all.
//
// HandleBatch is called from one goroutine at a time. It must use tx for all
// its database work and must not commit or roll it back (Run stops with an
// error saying it did, under either poison policy). An error aborts the
// whole batch (nothing of it is committed) and stops the Ingester with that
// error (PoisonHalt) or sets the transaction aside (PoisonSetAside); it
// should name the transaction's offset and update id. Two kinds of error
// are faults instead, retried as the Ingester's own are (with backoff,
// counted by MaxAttempts) under either policy: a transient database fault
// (IsTransientDBError) and a retryable Ledger API error (ledger.IsRetryable:
// a participant the Handler calls is unavailable, or behind the offset it
// asks for: that is the Handler's participant, never taken for the
// Ingester's own restored from a backup). Wrap them with %w to keep them
// so.
// A transaction may be handed to HandleBatch more than once: a batch is
// handed over again after a fault, and, once rejected, one transaction at
// a time (to name or set aside the one rejected; under PoisonHalt, when
// none is rejected alone, whole once more before Run stops, with an error
// saying that it took each alone); only what it
// writes with tx happens once. Calls it makes to other services should be idempotent,
// keyed on the update id.
// A panic in HandleBatch (or ReadBatch) is recovered and taken as such an
// error (ErrHandlerPanicked). It must close the rows it queries before it
// returns, an error or a panic included (defer rows.Close()): rows left
// open keep tx's connection busy, and under PoisonSetAside the failing
// transaction then cannot be set aside; Run stops, naming it.
type Handler interface {
	HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error
}

// Preparer is implemented by a Handler that can do part of its work on each
// transaction ahead of its batch: work that reads nothing but the
// transaction, such as decoding payloads or a speculative classification.
// The Ingester calls Prepare from the goroutine that reads the stream, as
// each transaction arrives, so that it runs while earlier batches are being
// written; HandleBatch finds the result through Batch.Prepared.
//
// Prepare runs concurrently with HandleBatch (of earlier batches) and must
// not touch the database or anything HandleBatch changes. It may be called
// for transactions that never reach HandleBatch (dedup drops replays) and
// again for the same transaction after a reconnect, and a batch may be
// handled twice with the same results (after a transient database fault).
// A result is a hint, not a commitment: HandleBatch must write the same
// effects with it, without it (Prepared returns nil) and after a failed
// attempt, and must not modify it. A Prepare that panics is logged and
// taken as having returned nil.
type Preparer interface {
	Prepare(t *ledger.Transaction) any
}

// Reader is implemented by a Handler that reads what it needs from the
// database in a step of its own, before HandleBatch: the Ingester calls
// ReadBatch right after the batch's dedup claim, in the batch's SQL
// transaction, and HandleBatch finds the result with Batch.Read.
//
// The Ingester may call ReadBatch while the batch before is still being
// written and committed on another connection (see Pipelining in the
// package documentation), so that the reads do not wait for that commit;
// Batch.Read then says so, and HandleBatch must add that batch's effects
// to what was read, or read again. HandleBatch itself always runs after
// the batch before has committed. ReadBatch must only read, with tx; it
// runs concurrently with HandleBatch of the batch before, from another
// goroutine, and must not change anything HandleBatch uses. It is not called for a batch the
// Ingester handles one transaction at a time (PoisonSetAside), and a
// batch retried after a fault is read again. An error fails the batch as
// HandleBatch's would.
type Reader interface {
	ReadBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) (any, error)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, tx *sqlx.Tx, b *Batch) error

// HandleBatch calls f.
func (f HandlerFunc) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	return f(ctx, tx, b)
}

// Handlers runs several handlers in order in the same SQL transaction. The
// result is a Preparer that prepares for each of hs that is one, and a
// Reader that reads for each of hs that is one. New refuses a chain holding
// a nil Handler, or one holding a nil pointer or func.
func Handlers(hs ...Handler) Handler {
	c := chain{hs: hs}
	var prep, read bool
	for _, h := range hs {
		_, p := h.(Preparer)
		_, r := h.(Reader)
		prep, read = prep || p, read || r
	}
	switch {
	case prep && read:
		return c
	case prep:
		return chainPrepare{c}
	case read:
		return chainRead{c}
	}
	return chainOnly{c}
}

// ErrInterfacesMissing: Config.Interfaces lacks an interface whose views
// the Handler reads (ViewUser). Without them the participant sends none,
// and the handler would take the treasury's holdings for other contracts
// (the History handler: deposits recorded as "other" entries of amount 0).
var ErrInterfacesMissing = errors.New("ingest: Config.Interfaces lacks an interface whose views the Handler reads")

// ViewUser is implemented by a Handler that reads the interface views of
// created events (tokenstd's History: those of Holding and
// TransferInstruction). New refuses a non-empty Config.Interfaces that
// lacks one of the interfaces ViewsNeeded returns (compared by module and
// entity name: the package may be named by id or by name), in the
// Handler or in any Handler of a chain made by Handlers
// (ErrInterfacesMissing). A Handler of your own that wraps one (History
// inside a handler that adds work) should implement it too, forwarding
// the wrapped handler's: New looks no deeper than Handlers' chains.
type ViewUser interface {
	ViewsNeeded() []ledger.Identifier
}

// viewsNeeded returns the interfaces whose views h, or a handler of a
// chain h is, reads (ViewUser).
func viewsNeeded(h Handler) []ledger.Identifier {
	var out []ledger.Identifier
	for _, m := range handlersOf(h) {
		if v, ok := m.(ViewUser); ok {
			out = append(out, v.ViewsNeeded()...)
		}
	}
	return out
}

// handlersOf returns h, or the handlers of the chains made by Handlers
// that h is, at any depth, in order.
func handlersOf(h Handler) []Handler {
	c, ok := chainOf(h)
	if !ok {
		return []Handler{h}
	}
	var out []Handler
	for _, m := range c.hs {
		out = append(out, handlersOf(m)...)
	}
	return out
}

// SchemaWriter is implemented by a Handler that writes tables of its own
// in a schema (tokenstd's History, withdrawal's Reconciler): New refuses a
// Handler, or a Handler of a chain made by Handlers, whose Schema is not
// Config.Schema. The checkpoint would move in one schema and the
// handler's effects in another, and what reads both (the withdrawal
// store, the restore procedure) would read a checkpoint that never moves.
// A Handler of your own that wraps one should implement it too,
// forwarding the wrapped handler's: New looks no deeper than Handlers'
// chains. An empty Schema is taken for a zero value, not made by its
// constructor, and refused as one.
type SchemaWriter interface {
	Schema() string
}

// otherSchema returns a handler of h, or of a chain h is, whose Schema is
// not want (SchemaWriter), and that schema.
func otherSchema(h Handler, want string) (Handler, string, bool) {
	for _, m := range handlersOf(h) {
		if w, ok := m.(SchemaWriter); ok && w.Schema() != want {
			return m, w.Schema(), true
		}
	}
	return nil, "", false
}

// TreasuryKeeper is implemented by a Handler that keeps the history of a
// party (tokenstd's History, withdrawal's Reconciler: the treasury; ""
// for none): New refuses Config.Parties without it, in the Handler or in any Handler of
// a chain made by Handlers. The participant would send none of its
// transactions, and the checkpoint would move past them. A Handler of
// your own that wraps one should implement it too, forwarding the
// wrapped handler's: New looks no deeper than Handlers' chains.
type TreasuryKeeper interface {
	Treasury() string
}

// missingTreasury returns a handler of h, or of a chain h is, whose
// Treasury is not among parties (TreasuryKeeper), and that party.
func missingTreasury(h Handler, parties []string) (Handler, string, bool) {
	for _, m := range handlersOf(h) {
		if k, ok := m.(TreasuryKeeper); ok && k.Treasury() != "" && !slices.Contains(parties, k.Treasury()) {
			return m, k.Treasury(), true
		}
	}
	return nil, "", false
}

// hasNilHandler reports whether h holds a nil value (a nil pointer or
// func: the nil *Reconciler of a constructor whose error was ignored), or
// is a chain made by Handlers that holds a nil Handler or one such, at any
// depth: New refuses it. A nil h is no Handler at all, which Config allows.
func hasNilHandler(h Handler) bool {
	if h == nil {
		return false
	}
	if nilcheck.Holds(h) {
		return true
	}
	c, ok := chainOf(h)
	if !ok {
		return false
	}
	for _, m := range c.hs {
		if m == nil || hasNilHandler(m) {
			return true
		}
	}
	return false
}

// chainOf returns the chain h is, if Handlers made it.
func chainOf(h Handler) (chain, bool) {
	switch x := h.(type) {
	case chain:
		return x, true
	case chainOnly:
		return x.c, true
	case chainPrepare:
		return x.c, true
	case chainRead:
		return x.c, true
	}
	return chain{}, false
}

// chain runs handlers in order. The wrappers below expose only the
// optional interfaces some of its handlers implement, so that the Ingester
// does not call Prepare or ReadBatch for nothing.
type chain struct{ hs []Handler }

type (
	chainOnly    struct{ c chain }
	chainPrepare struct{ c chain }
	chainRead    struct{ c chain }
)

func (c chainOnly) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	return c.c.HandleBatch(ctx, tx, b)
}

func (c chainPrepare) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	return c.c.HandleBatch(ctx, tx, b)
}

func (c chainPrepare) Prepare(t *ledger.Transaction) any { return c.c.Prepare(t) }

func (c chainRead) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	return c.c.HandleBatch(ctx, tx, b)
}

func (c chainRead) ReadBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) (any, error) {
	return c.c.ReadBatch(ctx, tx, b)
}

// chainPrepared holds what each handler of a chain prepared, by position;
// chainReads what each read.
type (
	chainPrepared []any
	chainReads    []any
)

// Prepare implements Preparer.
func (c chain) Prepare(t *ledger.Transaction) any {
	out := make(chainPrepared, len(c.hs))
	for i, h := range c.hs {
		if p, ok := h.(Preparer); ok {
			out[i] = p.Prepare(t)
		}
	}
	return out
}

// ReadBatch implements Reader: each handler that is a Reader reads, in order.
func (c chain) ReadBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) (any, error) {
	out := make(chainReads, len(c.hs))
	for i, h := range c.hs {
		if r, ok := h.(Reader); ok {
			v, err := r.ReadBatch(ctx, tx, b.forMember(c, i))
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
	}
	return out, nil
}

// HandleBatch implements Handler: each handler sees the batch with what it
// prepared and read itself.
func (c chain) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	for i, h := range c.hs {
		if err := h.HandleBatch(ctx, tx, b.forMember(c, i)); err != nil {
			return err
		}
	}
	return nil
}

// forMember returns b as handler i of c sees it: with what that handler
// prepared and read, taken from the chain's results.
func (b *Batch) forMember(c chain, i int) *Batch {
	h := c.hs[i]
	out := b
	if _, ok := h.(Preparer); ok && b.prepared != nil {
		out = out.WithPrepared(func(t *ledger.Transaction) any {
			if cp, ok := b.prepared[t].(chainPrepared); ok && len(cp) == len(c.hs) {
				return cp[i]
			}
			return nil
		})
	} else if b.prepared != nil {
		// Not a Preparer: Prepared is nil for it, not the chain's results.
		c := *out
		c.prepared = nil
		out = &c
	}
	if out.read != nil {
		var v any
		if cr, ok := out.read.(chainReads); ok && len(cr) == len(c.hs) {
			v = cr[i]
		}
		out = out.WithRead(v, out.readEarly)
	}
	return out
}

// ErrDeploymentFault marks (wrapped) a Handler's error that is a fault of
// the deployment, not of the batch's transactions: one every transaction
// would meet alike, such as handlers chained in the wrong order (the
// withdrawal Reconciler's error then wraps it). Under PoisonSetAside such an
// error is not set aside, as a statement refused for a table or grant the
// database lacks is not: Run stops, naming the first transaction.
var ErrDeploymentFault = errors.New("ingest: a fault of the deployment, not of the transaction")

// transientHandlerError reports whether a Handler's (or Reader's) error is a
// fault to retry rather than a rejection of its batch: a transient database
// fault, or a retryable Ledger API error of a call the Handler made.
func transientHandlerError(err error) bool {
	return IsTransientDBError(err) || ledger.IsRetryable(err)
}

// ErrHandlerPanicked marks (wrapped) a batch whose Handler panicked in
// HandleBatch or ReadBatch. The panic is recovered, logged with its stack,
// and taken as the Handler's error: the batch is rolled back, and the
// transaction is located and named (PoisonHalt) or set aside
// (PoisonSetAside) as for an error. A panic with an error wraps it: one
// with a transient database fault (IsTransientDBError) is retried as that
// fault returned would be. Batches are finished in a goroutine of
// their own (see Pipelining), where Run's caller could not recover it.
// A Handler that ends its goroutine with runtime.Goexit (testify's require
// or t.FailNow in a Handler) is taken as one that panicked.
var ErrHandlerPanicked = errors.New("ingest: handler panicked")

// handleBatch calls the Handler's HandleBatch, turning a panic or a
// runtime.Goexit into an error.
func (ing *Ingester) handleBatch(ctx context.Context, tx *sqlx.Tx, b *Batch) error {
	return ing.guard("HandleBatch", b, func() error { return ing.cfg.Handler.HandleBatch(ctx, tx, b) })
}

// readBatch calls r.ReadBatch, turning a panic or a runtime.Goexit into an
// error.
func (ing *Ingester) readBatch(ctx context.Context, r Reader, tx *sqlx.Tx, b *Batch) (v any, err error) {
	err = ing.guard("ReadBatch", b, func() (err error) {
		v, err = r.ReadBatch(ctx, tx, b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// errGoexit is what guard reports of a call that ended its goroutine with
// runtime.Goexit: testify's require or t.FailNow called in a Handler.
var errGoexit = errors.New("called runtime.Goexit (t.FailNow, or testify's require, in a Handler?)")

// guard calls f in a goroutine of its own and waits for it, so that a
// runtime.Goexit in the Handler ends that goroutine only: the batch's
// goroutine, which had to report the batch's result, waited for ever on
// one that never came. A panic is recovered there too. One goroutine per
// call: a batch's, or a transaction's while a batch is split.
func (ing *Ingester) guard(what string, b *Batch, f func() error) error {
	done := make(chan error, 1)
	go func() {
		err := errGoexit // unless f returns or panics
		defer func() {
			if r := recover(); r != nil {
				err = ing.panicked(what, b, r)
			} else if err == errGoexit {
				ing.log.Error("ingest: "+what+" "+errGoexit.Error(), "from_offset", b.FromOffset, "to_offset", b.ToOffset)
				err = fmt.Errorf("%w: %s %w", ErrHandlerPanicked, what, errGoexit)
			}
			done <- err
		}()
		err = f()
	}()
	return <-done
}

func (ing *Ingester) panicked(what string, b *Batch, r any) error {
	ing.log.Error("ingest: "+what+" panicked", "from_offset", b.FromOffset, "to_offset", b.ToOffset,
		"panic", Redact(fmt.Sprint(r)), "stack", string(debug.Stack()))
	if err, ok := r.(error); ok {
		// Kept (%w): a panic with a database fault (sqlx's MustExec) is
		// that fault, retried if transient (IsTransientDBError).
		return fmt.Errorf("%w in %s: %w", ErrHandlerPanicked, what, err)
	}
	return fmt.Errorf("%w in %s: %v", ErrHandlerPanicked, what, r)
}
