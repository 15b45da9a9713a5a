package tokenstd

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/cantonx/txhistory/internal/pglist"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// ErrorPolicy says what the History handler does with a transaction it
// cannot parse (a *ParseError).
type ErrorPolicy int

const (
	// Halt (the default) returns the *ParseError: the batch is not
	// committed and the Ingester stops, or, under the Ingester's own
	// PoisonSetAside policy, sets the whole transaction aside for every
	// handler.
	Halt ErrorPolicy = iota
	// SetAside records the transaction in the review table (with the error
	// and the transaction in protobuf JSON) and goes on: its token effects
	// are not applied, other handlers still see it. A holding it created is
	// then unknown to the holding set, so resolve set-aside transactions
	// before later ones spend their holdings (a transfer of the treasury
	// spending one is set aside too).
	SetAside
)

func (p ErrorPolicy) String() string {
	switch p {
	case Halt:
		return "Halt"
	case SetAside:
		return "SetAside"
	}
	return fmt.Sprintf("ErrorPolicy(%d)", int(p))
}

// ErrUnknownAccount is returned (wrapped or not) by a DepositCrediter that
// does not know the account a deposit names. The deposit is then recorded
// as KindDepositUnassigned, for manual handling, and ingestion goes on.
var ErrUnknownAccount = errors.New("tokenstd: unknown deposit account")

// DepositCrediter is the exchange's hook that credits deposits to its
// users' accounts, in the same SQL transaction as the history, so a deposit
// is credited exactly once: with the batch that records it, or not at all.
// What it writes must therefore live in the Integration DB and be restored
// with it: after an Integration DB restore, ingestion replays from the
// backup's checkpoint and calls it again for every deposit after that, which
// credits twice any balances kept in another database.
//
// CreditDeposit is called once per KindDeposit entry, in ledger order,
// after the batch's holdings and history rows are written, from one
// goroutine at a time. It must use tx and must not commit or roll it back.
// It may change nothing in e but read it freely. Returning
// ErrUnknownAccount records the entry as KindDepositUnassigned instead; any
// other error aborts the batch. Find the account unknown before writing
// anything with tx: nothing undoes what CreditDeposit wrote before it
// returns ErrUnknownAccount (a credit recorded stays, and the deposit,
// also listed as unassigned, is credited a second time by whoever handles
// those), and a statement that failed (a foreign key violation) aborts tx,
// so the batch fails whatever it returns.
//
// e.Instrument says which token arrived, by its admin and id. With
// Config.Instruments empty, deposits of every instrument reach
// CreditDeposit, including tokens that anyone can create under the id of
// a real one ("Amulet") with an admin of their own: list the supported
// instruments in Config.Instruments, or credit by e.Instrument, never by
// e.Amount alone.
type DepositCrediter interface {
	CreditDeposit(ctx context.Context, tx *sqlx.Tx, e *Entry) error
}

// CreditFunc adapts a function to the DepositCrediter interface.
type CreditFunc func(ctx context.Context, tx *sqlx.Tx, e *Entry) error

// CreditDeposit calls f.
func (f CreditFunc) CreditDeposit(ctx context.Context, tx *sqlx.Tx, e *Entry) error {
	return f(ctx, tx, e)
}

// Config configures a History handler.
type Config struct {
	// Treasury is the party whose history is kept. Required. An
	// Integration DB keeps one treasury's history: HandleBatch refuses a
	// holding set that holds another party's live holdings (the treasury
	// party changed since it was ingested), wrapping
	// ingest.ErrDeploymentFault.
	Treasury string
	// Schema is the PostgreSQL schema holding the tables (migrated with
	// schema.Migrate). Default schema.DefaultName.
	Schema string
	// OnError is what to do with a transaction that cannot be parsed.
	// Default Halt.
	OnError ErrorPolicy
	// Credit, if set, is called for every new deposit. One holding a nil
	// func or pointer is refused. Deposits ingested into the Integration DB
	// while it was not set (by ingestd, say) are not passed to it later:
	// ingestion does not hand their transactions over again.
	Credit DepositCrediter
	// Account maps a deposit's reason to an account; nil means
	// DefaultAccount. It must be a pure function of the reason: Prepare
	// calls it too, from the Ingester's stream-reading goroutine, ahead of
	// the batch.
	Account AccountFunc
	// Logger receives a warning per set-aside transaction. Default
	// slog.Default().
	Logger *slog.Logger
	// Instruments, if not empty, are the only instruments (admin and id)
	// whose contracts and transfers can change the treasury's books. A
	// holding, transfer instruction or TransferFactory_Transfer of another
	// instrument is ignored as a forged contract is: no entry, no holding
	// or instruction row, and no error, however malformed its data (its
	// amount, its id, its registry's result and metadata). Malformed data
	// of a listed instrument is still a ParseError. Holdings of another
	// instrument stored before it was left out are still followed until
	// archived; its stored instructions are no longer the treasury's, and
	// a choice ending one is ignored as a transfer of it is.
	//
	// Empty (the default), every instrument counts. Anyone can create an
	// instrument, administer it and send the treasury holdings of it, with
	// an amount or an id that cannot be read or stored, or close transfer
	// instructions of it in ways that cannot be told apart: under the
	// default OnError (Halt) that halts ingestion. An exchange should list
	// the instruments it supports.
	Instruments []Instrument
}

// WithDefaults returns a copy of c with empty fields filled: Schema with
// schema.DefaultName, Account with DefaultAccount and Logger with
// slog.Default(). OnError's zero value is Halt already; Treasury, Credit
// and Instruments have no default. NewHistory applies it; call it to log
// or check the configuration a History will use.
func (c Config) WithDefaults() Config {
	if c.Schema == "" {
		c.Schema = schema.DefaultName
	}
	if c.Account == nil {
		c.Account = DefaultAccount
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// History is the ingest.Handler that keeps the treasury's token standard
// history: it classifies each transaction of a batch and writes, in the
// batch's SQL transaction, the holdings it created and archived, the
// transfer instructions it opened and closed and its history entries, then
// calls the DepositCrediter for each new deposit.
//
// History is idempotent: a transaction whose entries are already stored is
// skipped, so handing it the same transactions twice changes nothing. Make
// one with NewHistory: the zero History names no schema nor treasury.
type History struct {
	cfg        Config
	classifier Classifier
	holdings   string
	instrs     string
	history    string
	review     string

	mu          sync.Mutex
	last        batchKey // the batch HandleBatch last handled without error
	lastEntries []*Entry // what it wrote for it

	ownerChecked atomic.Bool // checkOwner found the holding set the treasury's
}

// batchKey tells batches apart without keeping their transactions alive:
// the Ingester's batches, and the one-transaction batches it makes of one
// under PoisonSetAside, differ in their offsets or transactions.
type batchKey struct {
	from, to    int64
	n           int
	first, last string // update ids
}

func keyOf(b *ingest.Batch) batchKey {
	if b == nil {
		return batchKey{}
	}
	k := batchKey{from: b.FromOffset, to: b.ToOffset, n: len(b.Transactions)}
	if k.n > 0 && b.Transactions[0] != nil && b.Transactions[k.n-1] != nil {
		k.first, k.last = b.Transactions[0].UpdateID, b.Transactions[k.n-1].UpdateID
	}
	return k
}

var _ ingest.Handler = (*History)(nil)

// NewHistory returns a History handler, or an error if cfg is invalid.
func NewHistory(cfg Config) (*History, error) {
	if cfg.Treasury == "" {
		return nil, errors.New("tokenstd: Config.Treasury is required")
	}
	cfg = cfg.WithDefaults()
	if err := schema.ValidateName(cfg.Schema); err != nil {
		return nil, fmt.Errorf("tokenstd: Config.Schema: %w", err)
	}
	if nilcheck.Holds(cfg.Credit) {
		return nil, errors.New("tokenstd: Config.Credit holds a nil func or pointer")
	}
	if cfg.OnError != Halt && cfg.OnError != SetAside {
		return nil, fmt.Errorf("tokenstd: Config.OnError: unknown policy %d", int(cfg.OnError))
	}
	if err := CheckInstruments(cfg.Instruments); err != nil {
		return nil, fmt.Errorf("tokenstd: %w", err)
	}
	cfg.Instruments = slices.Clone(cfg.Instruments)
	return &History{
		cfg:        cfg,
		classifier: Classifier{Treasury: cfg.Treasury, Account: cfg.Account, Instruments: cfg.Instruments},
		holdings:   schema.Qualify(cfg.Schema, HoldingTable),
		instrs:     schema.Qualify(cfg.Schema, InstructionTable),
		history:    schema.Qualify(cfg.Schema, HistoryTable),
		review:     schema.Qualify(cfg.Schema, ReviewTable),
	}, nil
}

// Schema returns the PostgreSQL schema the handler writes (Config.Schema,
// or its default; ingest.SchemaWriter: ingest.New refuses an Ingester of
// another).
func (h *History) Schema() string { return h.cfg.Schema }

// Treasury returns the party whose history the handler keeps
// (Config.Treasury; ingest.TreasuryKeeper: ingest.New refuses an
// Ingester whose Parties lack it).
func (h *History) Treasury() string { return h.cfg.Treasury }

// Classifier returns the classifier the handler uses (a copy: its
// Instruments are not the handler's).
func (h *History) Classifier() Classifier {
	c := h.classifier
	c.Instruments = slices.Clone(c.Instruments)
	return c
}

// Balances returns the treasury's balances, the sums of its live holdings
// in the holding table of the History's schema (what Balances reads).
func (h *History) Balances(ctx context.Context, q sqlx.QueryerContext) (map[Instrument]decimal.Decimal, error) {
	return Balances(ctx, q, h.cfg.Schema)
}

// ViewsNeeded implements ingest.ViewUser: the History handler reads the
// treasury's holdings and transfer instructions through the views of the
// Holding and TransferInstruction interfaces, so ingest.New refuses a
// Config.Interfaces that lacks either.
func (h *History) ViewsNeeded() []ledger.Identifier {
	return []ledger.Identifier{ledger.HoldingInterface, ledger.TransferInstructionInterface}
}

// HandleBatch implements ingest.Handler. Its first batch refuses a
// holding set that holds another party's live holdings (checkOwner).
func (h *History) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	if !h.ownerChecked.Load() {
		if err := h.checkOwner(ctx, tx); err != nil {
			return err
		}
		h.ownerChecked.Store(true)
	}
	h.mu.Lock()
	before := handled{key: h.last, entries: h.lastEntries}
	h.last, h.lastEntries = batchKey{}, nil
	h.mu.Unlock()
	entries, err := h.handle(ctx, tx, b, before)
	if err != nil {
		return err
	}
	h.remember(keyOf(b), entries)
	return nil
}

// checkOwner refuses a holding set that holds live holdings of a party
// other than Config.Treasury: the Integration DB was ingested for another
// treasury party. Their archives, not the treasury's, would never be
// booked, and Balances would count them with the treasury's own. The
// error wraps ingest.ErrDeploymentFault: every transaction would meet it.
func (h *History) checkOwner(ctx context.Context, tx *sqlx.Tx) error {
	var other string
	err := tx.GetContext(ctx, &other, `SELECT owner FROM `+h.holdings+` WHERE archived_offset IS NULL AND owner <> $1 LIMIT 1`, h.cfg.Treasury)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tokenstd: reading the owners of the holding set: %w", err)
	}
	return fmt.Errorf("tokenstd: the holding set holds live holdings of %s, not of Config.Treasury %s: this Integration DB was ingested for another treasury party; ingest %s into an Integration DB (or schema) of its own: %w",
		other, h.cfg.Treasury, h.cfg.Treasury, ingest.ErrDeploymentFault)
}

// handled is a batch HandleBatch handled without error, and what it wrote.
type handled struct {
	key     batchKey
	entries []*Entry
}

func (h *History) remember(k batchKey, entries []*Entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last, h.lastEntries = k, entries
}

// Written returns the entries HandleBatch wrote for b, in ledger order, if
// b is the batch it handled last and it handled it without error; the
// entries of transactions found already stored are not among them. It
// lets a handler chained after History in the same SQL transaction (the
// withdrawal Reconciler) use the entries without reading them back, and
// tell that History did handle the batch.
func (h *History) Written(b *ingest.Batch) ([]*Entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b == nil || keyOf(b) != h.last || h.last == (batchKey{}) {
		return nil, false
	}
	return h.lastEntries, true
}

// batchRead is what ReadBatch read for a batch: lookUp's results.
type batchRead struct {
	by       *History
	txs      []*ledger.Transaction // the batch's transactions, to recognise it
	consumed []string              // the contracts they consume (consumedContracts)
	todo     []*ledger.Transaction
	set      *HoldingSet
	used     bool // HandleBatch took it: the set has changed since
}

// ReadBatch implements ingest.Reader: it reads what handling b needs (see
// lookUp), so that the Ingester can do it while the batch before is still
// being written. HandleBatch adds that batch's effects, which it wrote
// itself, to what was read.
func (h *History) ReadBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) (any, error) {
	if b == nil || len(b.Transactions) == 0 {
		return nil, nil
	}
	cids := consumedContracts(b.Transactions)
	todo, set, err := h.lookUpFor(ctx, tx, b.Transactions, cids)
	if err != nil {
		return nil, err
	}
	return &batchRead{by: h, txs: b.Transactions, consumed: cids, todo: todo, set: set}, nil
}

// readFor returns what ReadBatch read for b, brought up to date, or nil if
// b must be read again: nothing was read for it, it was used already, or it
// was read before the batch ending at b.FromOffset committed and h does not
// know what that batch wrote. That batch is before, the one h handled last,
// if it ends where b begins (a batch h was not called for wrote nothing of
// h's); its entries are applied to the set read, which Apply allows whether
// or not the read saw their effects already.
func (h *History) readFor(b *ingest.Batch, before handled) *batchRead {
	v, early := b.Read()
	r, ok := v.(*batchRead)
	if !ok || r.by != h || r.used || !slices.Equal(r.txs, b.Transactions) {
		return nil
	}
	if early {
		if before.key == (batchKey{}) || before.key.to != b.FromOffset {
			return nil
		}
		// Only what the batch consumes is ever looked up in the set.
		consumed := make(map[string]bool, len(r.consumed))
		for _, cid := range r.consumed {
			consumed[cid] = true
		}
		for _, e := range before.entries {
			if touches(e, consumed) {
				r.set.Apply([]Entry{*e})
			}
		}
	}
	r.used = true
	return r
}

// touches reports whether e creates, archives, opens or closes one of the
// contracts.
func touches(e *Entry, contracts map[string]bool) bool {
	for _, hs := range [][]Holding{e.Created, e.Archived} {
		for _, hd := range hs {
			if contracts[hd.ContractID] {
				return true
			}
		}
	}
	if in := e.Instruction; in != nil && (contracts[in.ContractID] || contracts[in.Replaces]) {
		return true
	}
	return contracts[e.InstructionCID]
}

func (h *History) handle(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch, before handled) ([]*Entry, error) {
	if b == nil || len(b.Transactions) == 0 {
		return nil, nil
	}
	var todo []*ledger.Transaction
	var set *HoldingSet
	if r := h.readFor(b, before); r != nil {
		todo, set = r.todo, r.set
	} else {
		var err error
		if todo, set, err = h.lookUp(ctx, tx, b.Transactions); err != nil {
			return nil, err
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	w := newBatchWrites(len(todo))
	for _, t := range todo {
		entries, ok := h.prepared(b, t, set)
		var pe *ParseError
		if ok {
			pe = recreated(t, entries, set)
		} else {
			var err error
			if entries, err = h.classifier.Classify(t, set); err != nil {
				var cpe *ParseError
				if errors.As(err, &cpe) && h.cfg.OnError == SetAside {
					if err := h.setAside(ctx, tx, t, cpe); err != nil {
						return nil, err
					}
					continue
				}
				return nil, err
			}
			if pe = storable(t, entries); pe == nil {
				pe = recreated(t, entries, set)
			}
		}
		if pe != nil {
			if h.cfg.OnError == SetAside {
				if err := h.setAside(ctx, tx, t, pe); err != nil {
					return nil, err
				}
				continue
			}
			return nil, pe
		}
		set.Apply(entries)
		w.add(entries)
	}
	if err := h.write(ctx, tx, &w); err != nil {
		return nil, err
	}
	return w.entries, h.credit(ctx, tx, w.entries)
}

// recreated refuses a transaction that creates a holding or a transfer
// instruction whose contract id an earlier transaction created: a ledger
// never does, and taking it would make the history disagree with the
// holdings. (The same transaction again, a replay, is not refused.)
func recreated(t *ledger.Transaction, entries []Entry, set *HoldingSet) *ParseError {
	for i := range entries {
		e := &entries[i]
		for _, hd := range e.Created {
			if prev, ok, _ := set.LookupHolding(hd.ContractID); ok && prev.Created.UpdateID != t.UpdateID {
				return &ParseError{UpdateID: t.UpdateID, Offset: t.Offset, NodeID: e.NodeID,
					Err: fmt.Errorf("holding %s was created before, by update %s at offset %d", hd.ContractID, prev.Created.UpdateID, prev.Created.Offset)}
			}
		}
		if in := e.Instruction; in != nil {
			if prev, ok, _ := set.LookupInstruction(in.ContractID); ok && prev.Created.UpdateID != t.UpdateID {
				return &ParseError{UpdateID: t.UpdateID, Offset: t.Offset, NodeID: e.NodeID,
					Err: fmt.Errorf("transfer instruction %s was created before, by update %s at offset %d", in.ContractID, prev.Created.UpdateID, prev.Created.Offset)}
			}
		}
	}
	return nil
}

// storable rejects text PostgreSQL cannot store (NUL bytes, invalid UTF-8),
// as bad input rather than as a database failure.
func storable(t *ledger.Transaction, entries []Entry) *ParseError {
	for i := range entries {
		e := &entries[i]
		if s, ok := firstUnstorable(e); !ok {
			// Ledger text may be megabytes long: quote its start only.
			quoted := strconv.Quote(s)
			if len(s) > 100 {
				quoted = fmt.Sprintf("%q… (%d bytes, the first bad one at byte %d)", s[:100], len(s), firstBadByte(s))
			}
			return &ParseError{UpdateID: t.UpdateID, Offset: t.Offset, NodeID: e.NodeID,
				Err: fmt.Errorf("text %s is not storable: it contains a NUL byte or invalid UTF-8", quoted)}
		}
	}
	return nil
}

// firstBadByte returns the index of s's first NUL byte or invalid UTF-8.
func firstBadByte(s string) int {
	for i, r := range s {
		if r == 0 || r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			return i
		}
	}
	return len(s)
}

// unstorable reports whether PostgreSQL cannot store s as text.
func unstorable(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
}

// allStorable returns the first of texts that PostgreSQL cannot store and
// false, or "" and true.
func allStorable(texts ...string) (string, bool) {
	for _, s := range texts {
		if unstorable(s) {
			return s, false
		}
	}
	return "", true
}

// firstUnstorable returns a text of e that PostgreSQL cannot store and
// false (the first found; metadata maps are checked in map order), or ""
// and true. It checks the texts where they are, without collecting them
// (it runs twice for every transaction).
func firstUnstorable(e *Entry) (string, bool) {
	if s, ok := allStorable(e.UpdateID, e.SynchronizerID, e.Sender, e.Receiver, e.Counterparty, e.Reason, e.Account,
		e.WithdrawalID, e.InstructionCID, e.TxKind, e.Choice, e.Instrument.Admin, e.Instrument.ID); !ok {
		return s, false
	}
	if s, ok := metaStorable(e.Meta); !ok {
		return s, false
	}
	if in := e.Instruction; in != nil {
		t := &in.Transfer
		if s, ok := allStorable(in.ContractID, in.Replaces, in.OriginalInstructionCID, t.Sender, t.Receiver,
			t.Instrument.Admin, t.Instrument.ID); !ok {
			return s, false
		}
		if s, ok := allStorable(t.InputHoldingCIDs...); !ok {
			return s, false
		}
		for _, m := range [...]Metadata{in.Meta, t.Meta} {
			if s, ok := metaStorable(m); !ok {
				return s, false
			}
		}
	}
	for _, hs := range [...][]Holding{e.Created, e.Archived} {
		for i := range hs {
			hd := &hs[i]
			if s, ok := allStorable(hd.ContractID, hd.Owner, hd.Instrument.Admin, hd.Instrument.ID); !ok {
				return s, false
			}
			if s, ok := metaStorable(hd.Meta); !ok {
				return s, false
			}
			if l := hd.Lock; l != nil {
				if s, ok := allStorable(l.Context); !ok {
					return s, false
				}
				if s, ok := allStorable(l.Holders...); !ok {
					return s, false
				}
			}
		}
	}
	return "", true
}

// metaStorable is allStorable for a metadata map's keys and values.
func metaStorable(m Metadata) (string, bool) {
	for k, v := range m {
		if s, ok := allStorable(k, v); !ok {
			return s, false
		}
	}
	return "", true
}

// lookUp reads, with one statement, what handling txs needs from the
// database, and returns the transactions to handle and the holdings and
// pending instructions they may consume.
//
// The transactions to handle are txs without those whose entries are
// already stored, and without repeats of an update id (the first stays):
// the history insert has no ON CONFLICT clause, so a duplicate entry is an
// error rather than silently dropped. The holdings and instructions are
// read for the contracts every transaction of txs consumes, stored or not:
// the extra ones are never looked up.
//
// One statement rather than three (each costs the batch a round trip and
// a wait for a busy machine's cores): its rows are the stored update ids,
// then the holdings and instructions, each as JSON (their times in UTC,
// whatever the session's TimeZone: see utcJSON). Every part probes an
// index once per id rather than using = ANY($1): while a table has no
// statistics (its first minute, during a catch-up) the planner costs ANY
// over a few hundred ids, or a plain join with them, as a sequential scan
// of the whole table. The probes for instructions run only if one is
// pending at all: a one-time filter, one probe of the pending index, so
// with none pending (all transfers 1-step) they never run. Its ORDER BY
// (the index's columns) keeps it on the index: as an EXISTS, PostgreSQL
// may scan the whole table for a pending row when its statistics say that
// many are pending.
func (h *History) lookUp(ctx context.Context, tx *sqlx.Tx, txs []*ledger.Transaction) ([]*ledger.Transaction, *HoldingSet, error) {
	return h.lookUpFor(ctx, tx, txs, consumedContracts(txs))
}

// lookUpFor is lookUp with the contracts txs consume already listed.
func (h *History) lookUpFor(ctx context.Context, tx *sqlx.Tx, txs []*ledger.Transaction, cids []string) ([]*ledger.Transaction, *HoldingSet, error) {
	ids := make([]string, 0, len(txs))
	for _, t := range txs {
		if t == nil {
			return nil, nil, errors.New("tokenstd: nil transaction in batch")
		}
		ids = append(ids, t.UpdateID)
	}
	idList, idArg := pglist.Param(1, ids)
	cidList, cidArg := pglist.Param(2, cids)
	var rows []struct {
		What string `db:"what"`
		Key  string `db:"key"`
		Doc  []byte `db:"doc"`
	}
	err := tx.SelectContext(ctx, &rows, `WITH c AS (SELECT DISTINCT unnest(`+cidList+`) AS cid)
		SELECT 's' AS what, u.id AS key, NULL::json AS doc FROM unnest(`+idList+`) AS u(id)
			WHERE EXISTS (SELECT FROM `+h.history+` AS h WHERE h.update_id = u.id)
		UNION ALL
		SELECT 'h', x.contract_id, row_to_json(x) FROM c,
			LATERAL (SELECT `+holdingDocColumns+` FROM `+h.holdings+` WHERE contract_id = c.cid LIMIT 1) AS x
		UNION ALL
		SELECT 'i', y.contract_id, row_to_json(y) FROM c,
			LATERAL (SELECT `+instructionDocColumns+` FROM `+h.instrs+` WHERE contract_id = c.cid AND outcome IS NULL LIMIT 1) AS y
			WHERE (SELECT true FROM `+h.instrs+` WHERE outcome IS NULL ORDER BY receiver, sender LIMIT 1)`,
		idArg, cidArg)
	if err != nil {
		return nil, nil, fmt.Errorf("tokenstd: reading stored transactions, holdings and instructions (offsets %d..%d): %w",
			txs[0].Offset, txs[len(txs)-1].Offset, err)
	}
	skip := make(map[string]bool, len(txs))
	set := NewHoldingSet()
	for _, r := range rows {
		switch r.What {
		case "s":
			skip[r.Key] = true
		case "h":
			var doc holdingDoc
			if err := json.Unmarshal(r.Doc, &doc); err != nil {
				return nil, nil, fmt.Errorf("tokenstd: reading holding %s: %w", r.Key, err)
			}
			hd, err := doc.row().holding()
			if err != nil {
				return nil, nil, err
			}
			set.holdings[hd.ContractID] = hd
		case "i":
			var doc instructionDoc
			if err := json.Unmarshal(r.Doc, &doc); err != nil {
				return nil, nil, fmt.Errorf("tokenstd: reading transfer instruction %s: %w", r.Key, err)
			}
			in, err := doc.row().instruction()
			if err != nil {
				return nil, nil, err
			}
			set.AddInstruction(in)
		}
	}
	todo := make([]*ledger.Transaction, 0, len(txs))
	for _, t := range txs {
		if !skip[t.UpdateID] {
			todo = append(todo, t)
			skip[t.UpdateID] = true
		}
	}
	return todo, set, nil
}

// consumedContracts returns the contracts txs consume, archived or by a
// consuming exercise: those whose holdings and instructions classifying
// them may look up. An id PostgreSQL cannot hold (a NUL byte) is no
// stored contract's, and the database would refuse the lookup: left out.
func consumedContracts(txs []*ledger.Transaction) []string {
	var cids []string
	for _, t := range txs {
		if t == nil {
			continue
		}
		for _, ev := range t.Events {
			switch e := ev.(type) {
			case *ledger.ExercisedEvent:
				if e != nil && e.Consuming && !unstorable(e.ContractID) {
					cids = append(cids, e.ContractID)
				}
			case *ledger.ArchivedEvent:
				if e != nil && !unstorable(e.ContractID) {
					cids = append(cids, e.ContractID)
				}
			}
		}
	}
	return cids
}

// setAside records t in the review table. The raw column holds the
// transaction in protobuf JSON, or, when its text has NUL characters (which
// jsonb cannot hold) or it cannot be written as JSON, {"protobuf_base64":
// ...}: the binary protobuf, still enough to re-process it.
func (h *History) setAside(ctx context.Context, tx *sqlx.Tx, t *ledger.Transaction, pe *ParseError) error {
	raw, err := ledger.ReviewJSON(t.Proto())
	if err != nil {
		return fmt.Errorf("tokenstd: encoding transaction %s at offset %d for review: %w", t.UpdateID, t.Offset, err)
	}
	var rt any
	if !t.RecordTime.IsZero() {
		rt = t.RecordTime
	}
	// The error may quote ledger text; text cannot hold a NUL or invalid
	// UTF-8 (as ingest's review rows).
	msg := strings.ReplaceAll(strings.ToValidUTF8(pe.Error(), "\uFFFD"), "\x00", `\x00`)
	_, err = tx.ExecContext(ctx, `INSERT INTO `+h.review+` (update_id, ledger_offset, record_time, synchronizer_id, error, raw, set_aside_at)
		VALUES ($1, $2, $3, $4, $5, $6::jsonb, clock_timestamp()) ON CONFLICT (update_id) DO NOTHING`,
		t.UpdateID, t.Offset, rt, t.SynchronizerID, msg, string(raw))
	if err != nil {
		return fmt.Errorf("tokenstd: setting aside transaction %s at offset %d: %w", t.UpdateID, t.Offset, err)
	}
	h.cfg.Logger.Warn("tokenstd: transaction set aside for review", "update_id", t.UpdateID, "offset", t.Offset,
		"node_id", pe.NodeID, "err", pe.Err)
	return nil
}

// batchWrites gathers the rows of one batch.
type batchWrites struct {
	entries []*Entry
	created []Holding // in creation order
	index   map[string]int
	// archives of holdings created before the batch
	archived []Holding
	opened   []Instruction
	closed   []closedRow
}

type closedRow struct {
	cid     string
	outcome string
	pos     Position
}

// newBatchWrites returns the writes of a batch of n transactions. Most
// transactions make one entry and create one holding: sized for that, the
// batch's slices and index do not grow (and copy) as it goes.
func newBatchWrites(n int) batchWrites {
	return batchWrites{
		entries: make([]*Entry, 0, n),
		created: make([]Holding, 0, n),
		index:   make(map[string]int, n),
	}
}

func (w *batchWrites) add(entries []Entry) {
	for i := range entries {
		e := &entries[i]
		w.entries = append(w.entries, e)
		for _, hd := range e.Created {
			if _, dup := w.index[hd.ContractID]; !dup {
				w.index[hd.ContractID] = len(w.created)
				w.created = append(w.created, hd)
			}
		}
		for _, hd := range e.Archived {
			if j, ok := w.index[hd.ContractID]; ok {
				w.created[j].Archived = hd.Archived
			} else {
				w.archived = append(w.archived, hd)
			}
		}
		pos := e.Position()
		switch {
		case e.Instruction != nil:
			w.opened = append(w.opened, *e.Instruction)
			if e.Instruction.Replaces != "" {
				w.closed = append(w.closed, closedRow{cid: e.Instruction.Replaces, outcome: "replaced", pos: pos})
			}
		case e.InstructionCID != "":
			w.closed = append(w.closed, closedRow{cid: e.InstructionCID, outcome: string(e.Kind), pos: pos})
		}
	}
}

func nullString(s string, valid bool) sql.NullString { return sql.NullString{String: s, Valid: valid} }

func (h *History) write(ctx context.Context, tx *sqlx.Tx, w *batchWrites) error {
	if err := h.writeHoldings(ctx, tx, w.created); err != nil {
		return err
	}
	if n := len(w.archived); n > 0 {
		cid, upd, rt := make([]string, n), make([]string, n), make([]string, n)
		off, node := make([]int64, n), make([]int64, n)
		for i, hd := range w.archived {
			a := hd.Archived
			cid[i], off[i], upd[i], rt[i], node[i] = hd.ContractID, a.Offset, a.UpdateID, a.RecordTime.Format(timeLayout), int64(a.NodeID)
		}
		_, err := tx.ExecContext(ctx, `UPDATE `+h.holdings+` AS h SET archived_offset = u.off, archived_update_id = u.upd,
				archived_record_time = u.rt, archived_node_id = u.node
			FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::int[]) AS u(cid, off, upd, rt, node)
			WHERE h.contract_id = u.cid AND h.archived_offset IS NULL`,
			pq.Array(cid), pq.Array(off), pq.Array(upd), pq.Array(rt), pq.Array(node))
		if err != nil {
			return fmt.Errorf("tokenstd: archiving %d holdings: %w", n, err)
		}
	}
	if err := h.writeInstructions(ctx, tx, w); err != nil {
		return err
	}
	return h.writeEntries(ctx, tx, w.entries)
}

// holdingCopyColumns are the token_holding columns writeHoldings fills, in the
// order of its COPY rows.
var holdingCopyColumns = []string{"contract_id", "instrument_admin", "instrument_id", "owner", "amount", "lock", "meta",
	"created_offset", "created_update_id", "created_record_time", "created_node_id",
	"archived_offset", "archived_update_id", "archived_record_time", "archived_node_id"}

// writeHoldings stores the holdings the batch created (those it archived
// again with their archive) with COPY, as writeEntries does. A contract id
// is stored once: the holdings of transactions already handled are never
// written again (lookUp), so a duplicate fails the batch, naming it.
func (h *History) writeHoldings(ctx context.Context, tx *sqlx.Tx, created []Holding) error {
	n := len(created)
	if n == 0 {
		return nil
	}
	err := h.copyIn(ctx, tx, h.holdings, holdingCopyColumns, n, func(r *copyRow, i int) {
		hd := created[i]
		r.text(hd.ContractID)
		r.text(hd.Instrument.Admin)
		r.text(hd.Instrument.ID)
		r.text(hd.Owner)
		r.decimal(hd.Amount)
		if hd.Lock != nil {
			r.text(jsonText(hd.Lock))
		} else {
			r.null()
		}
		r.meta(hd.Meta)
		r.int(hd.Created.Offset)
		r.text(hd.Created.UpdateID)
		r.time(hd.Created.RecordTime)
		r.int(int64(hd.Created.NodeID))
		if a := hd.Archived; a != nil {
			r.int(a.Offset)
			r.text(a.UpdateID)
			r.time(a.RecordTime)
			r.int(int64(a.NodeID))
		} else {
			r.null()
			r.null()
			r.null()
			r.null()
		}
	})
	if err != nil {
		return copyErr("holdings", n, created[0].Created.Offset, created[n-1].Created.Offset, err)
	}
	return nil
}

// copyIn writes n rows into table (qualified) with COPY, in tx; row(r, i)
// gives the fields of row i to r in the order of cols. Each row is
// rendered into one string and sent as it is rendered, so PostgreSQL works
// on the first rows while the next are rendered (see copyRow). From the
// first row holding one of the rendering's separator bytes on, the rows go
// as values, in a second COPY.
func (h *History) copyIn(ctx context.Context, tx *sqlx.Tx, table string, cols []string, n int, row func(r *copyRow, i int)) error {
	var (
		r    copyRow
		stmt *sql.Stmt
		err  error
	)
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	rendered := true
	for i := range n {
		if rendered {
			r.reset(false)
			row(&r, i)
			if !r.clean() {
				rendered = false
				if stmt != nil {
					if err := endCopy(ctx, stmt); err != nil {
						return err
					}
					stmt = nil
				}
			}
		}
		if stmt == nil {
			if stmt, err = tx.PrepareContext(ctx, copyStatement(table, cols, rendered)); err != nil {
				return err
			}
		}
		if rendered {
			_, err = stmt.ExecContext(ctx, string(r.line))
		} else {
			r.reset(true)
			row(&r, i)
			_, err = stmt.ExecContext(ctx, r.vals...)
		}
		if err != nil {
			return err
		}
	}
	if stmt == nil {
		return nil
	}
	err = endCopy(ctx, stmt)
	stmt = nil
	return err
}

// endCopy ends the COPY of stmt, returning the errors of its rows, and
// closes stmt.
func endCopy(ctx context.Context, stmt *sql.Stmt) error {
	_, err := stmt.ExecContext(ctx)
	return errors.Join(err, stmt.Close())
}

// copyErr wraps an error of copyIn that wrote n rows of what, for the
// transactions at offsets from..to, naming the key when a row was stored
// already (a unique violation: a bug, a foreign writer, or a participant-local
// operation redone on a restored validator node, an ACS import or repair
// creating a contract the Integration DB took from the lost original; see
// package recovery's Limits).
func copyErr(what string, n int, from, to int64, err error) error {
	var pqe *pq.Error
	if errors.As(err, &pqe) && pqe.Code == "23505" { // unique_violation
		return fmt.Errorf("tokenstd: writing %d %s (offsets %d..%d): one is stored already (%s): %w", n, what, from, to, pqe.Detail, err)
	}
	return fmt.Errorf("tokenstd: writing %d %s: %w", n, what, err)
}

func (h *History) writeInstructions(ctx context.Context, tx *sqlx.Tx, w *batchWrites) error {
	if n := len(w.opened); n > 0 {
		cid, sender, receiver, admin, id, amount, reason, status := make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		reqAt, execBefore := make([]sql.NullString, n), make([]sql.NullString, n)
		inputs, tmeta, meta, replaces, upd, rt := make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n)
		original := make([]string, n)
		off := make([]int64, n)
		for i, in := range w.opened {
			t := in.Transfer
			cid[i], sender[i], receiver[i], admin[i], id[i] = in.ContractID, t.Sender, t.Receiver, t.Instrument.Admin, t.Instrument.ID
			amount[i], reason[i], status[i] = t.Amount.String(), t.Meta[MetaReason], string(in.Status)
			if reason[i] == "" {
				reason[i] = in.Reason
			}
			if !t.RequestedAt.IsZero() {
				reqAt[i] = nullString(t.RequestedAt.Format(timeLayout), true)
			}
			if !t.ExecuteBefore.IsZero() {
				execBefore[i] = nullString(t.ExecuteBefore.Format(timeLayout), true)
			}
			ins := t.InputHoldingCIDs
			if ins == nil {
				ins = []string{}
			}
			inputs[i], tmeta[i], meta[i], replaces[i] = jsonText(ins), metaJSON(t.Meta), metaJSON(in.Meta), in.Replaces
			original[i] = in.OriginalInstructionCID
			off[i], upd[i], rt[i] = in.Created.Offset, in.Created.UpdateID, in.Created.RecordTime.Format(timeLayout)
		}
		// An instruction stored already by the same transaction is a replay
		// (kept as it is); one stored by another transaction is returned:
		// the statement's reads do not see its own insertions.
		var again []struct {
			CID     string `db:"cid"`
			Upd     string `db:"upd"`
			Off     int64  `db:"off"`
			PrevUpd string `db:"prev_upd"`
			PrevOff int64  `db:"prev_off"`
		}
		err := sqlx.SelectContext(ctx, tx, &again, `WITH u AS (
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::text[], $8::text[],
					$9::timestamptz[], $10::timestamptz[], $11::jsonb[], $12::jsonb[], $13::jsonb[], $14::text[],
					$15::bigint[], $16::text[], $17::timestamptz[], $18::text[])
					AS u(cid, sender, receiver, admin, id, amount, reason, status, req, exe, inputs, tmeta, meta, replaces, off, upd, rt, orig)
			), ins AS (
				INSERT INTO `+h.instrs+` (contract_id, sender, receiver, instrument_admin, instrument_id, amount,
					reason, status, requested_at, execute_before, input_holding_cids, transfer_meta, meta, replaces,
					created_offset, created_update_id, created_record_time, original_instruction_cid)
				SELECT u.cid, u.sender, u.receiver, u.admin, u.id, u.amount, u.reason, u.status, u.req, u.exe,
					ARRAY(SELECT jsonb_array_elements_text(u.inputs)), u.tmeta, u.meta, u.replaces, u.off, u.upd, u.rt, u.orig
				FROM u
				ON CONFLICT (contract_id) DO NOTHING
			)
			SELECT u.cid, u.upd, u.off, i.created_update_id AS prev_upd, i.created_offset AS prev_off
			FROM u JOIN `+h.instrs+` i ON i.contract_id = u.cid
			WHERE i.created_update_id <> u.upd
			ORDER BY u.off LIMIT 1`,
			pq.Array(cid), pq.Array(sender), pq.Array(receiver), pq.Array(admin), pq.Array(id), pq.Array(amount), pq.Array(reason),
			pq.Array(status), pq.Array(reqAt), pq.Array(execBefore), pq.Array(inputs), pq.Array(tmeta), pq.Array(meta),
			pq.Array(replaces), pq.Array(off), pq.Array(upd), pq.Array(rt), pq.Array(original))
		if err != nil {
			return fmt.Errorf("tokenstd: writing %d transfer instructions: %w", n, err)
		}
		if len(again) > 0 {
			a := again[0]
			return &ParseError{UpdateID: a.Upd, Offset: a.Off, NodeID: -1,
				Err: fmt.Errorf("transfer instruction %s was created before, by update %s at offset %d", a.CID, a.PrevUpd, a.PrevOff)}
		}
	}
	if n := len(w.closed); n > 0 {
		cid, outcome, upd, rt := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		off := make([]int64, n)
		for i, c := range w.closed {
			cid[i], outcome[i], off[i], upd[i], rt[i] = c.cid, c.outcome, c.pos.Offset, c.pos.UpdateID, c.pos.RecordTime.Format(timeLayout)
		}
		_, err := tx.ExecContext(ctx, `UPDATE `+h.instrs+` AS i SET outcome = u.outcome, closed_offset = u.off,
				closed_update_id = u.upd, closed_record_time = u.rt
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[]) AS u(cid, outcome, off, upd, rt)
			WHERE i.contract_id = u.cid AND i.outcome IS NULL`,
			pq.Array(cid), pq.Array(outcome), pq.Array(off), pq.Array(upd), pq.Array(rt))
		if err != nil {
			return fmt.Errorf("tokenstd: closing %d transfer instructions: %w", n, err)
		}
	}
	return nil
}

// historyCopyColumns are the token_history columns writeEntries fills, in the
// order of its COPY rows.
var historyCopyColumns = []string{"update_id", "node_id", "kind", "instrument_admin", "instrument_id", "ledger_offset",
	"record_time", "synchronizer_id", "tx_kind", "choice", "amount", "transferred", "fee", "sender", "receiver",
	"counterparty", "reason", "account", "withdrawal_id", "instruction_cid", "holdings_created", "holdings_archived", "meta"}

// writeEntries stores the entries with COPY, in the batch's SQL
// transaction. PostgreSQL 15 parses a text array parameter at about 20 ns
// a character, several times slower than COPY's text rows, and an entry is
// some 800 characters; there is no ON CONFLICT to need an INSERT (see
// lookUp).
func (h *History) writeEntries(ctx context.Context, tx *sqlx.Tx, entries []*Entry) error {
	n := len(entries)
	if n == 0 {
		return nil
	}
	err := h.copyIn(ctx, tx, h.history, historyCopyColumns, n, func(r *copyRow, i int) {
		e := entries[i]
		r.text(e.UpdateID)
		r.int(int64(e.NodeID))
		r.text(string(e.Kind))
		r.text(e.Instrument.Admin)
		r.text(e.Instrument.ID)
		r.int(e.Offset)
		r.time(e.RecordTime)
		r.text(e.SynchronizerID)
		r.text(e.TxKind)
		r.text(e.Choice)
		r.decimal(e.Amount)
		r.decimal(e.Transferred)
		r.decimal(e.Fee)
		r.text(e.Sender)
		r.text(e.Receiver)
		r.text(e.Counterparty)
		r.text(e.Reason)
		r.text(e.Account)
		r.text(e.WithdrawalID)
		r.text(e.InstructionCID)
		r.cids(e.Created)
		r.cids(e.Archived)
		r.meta(e.Meta)
	})
	if err != nil {
		return copyErr("history entries", n, entries[0].Offset, entries[n-1].Offset, err)
	}
	return nil
}

// credit calls the DepositCrediter for the batch's deposits.
func (h *History) credit(ctx context.Context, tx *sqlx.Tx, entries []*Entry) error {
	if h.cfg.Credit == nil {
		return nil
	}
	for _, e := range entries {
		if e.Kind != KindDeposit {
			continue
		}
		err := h.cfg.Credit.CreditDeposit(ctx, tx, e)
		switch {
		case err == nil:
			continue
		case errors.Is(err, ErrUnknownAccount):
			_, uerr := tx.ExecContext(ctx, `UPDATE `+h.history+` SET kind = $6, account = ''
				WHERE update_id = $1 AND node_id = $2 AND kind = $3 AND instrument_admin = $4 AND instrument_id = $5`,
				e.UpdateID, e.NodeID, string(KindDeposit), e.Instrument.Admin, e.Instrument.ID, string(KindDepositUnassigned))
			if uerr != nil {
				return fmt.Errorf("tokenstd: recording unassigned deposit of transaction %s at offset %d, node %d: %w",
					e.UpdateID, e.Offset, e.NodeID, uerr)
			}
			if e.InstructionCID != "" {
				// The instruction this deposit accepted ends with the
				// entry's kind (token_instruction.outcome).
				_, uerr = tx.ExecContext(ctx, `UPDATE `+h.instrs+` SET outcome = $3
					WHERE contract_id = $1 AND closed_update_id = $2 AND outcome = $4`,
					e.InstructionCID, e.UpdateID, string(KindDepositUnassigned), string(KindDeposit))
				if uerr != nil {
					return fmt.Errorf("tokenstd: recording unassigned deposit of transaction %s at offset %d, node %d (instruction %s): %w",
						e.UpdateID, e.Offset, e.NodeID, e.InstructionCID, uerr)
				}
			}
			e.Kind, e.Account = KindDepositUnassigned, ""
		default:
			return fmt.Errorf("tokenstd: crediting deposit of transaction %s at offset %d, node %d to account %q: %w",
				e.UpdateID, e.Offset, e.NodeID, e.Account, err)
		}
	}
	return nil
}
