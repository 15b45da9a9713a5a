package tokenstd

import (
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/cantonx/txhistory/ledger"
	"github.com/shopspring/decimal"
)

// HoldingLookup finds the treasury's holdings by contract id. Archive events
// do not carry the archived contract's data, so the classifier asks the
// lookup what an archived holding held.
//
// The lookup must know every treasury holding created before the
// transaction being classified, live or archived; a contract it does not
// know is taken not to be a treasury holding. HoldingSet is an in-memory
// implementation; the History handler reads its table.
type HoldingLookup interface {
	// LookupHolding returns the treasury holding with the given contract
	// id, whether live or already archived.
	LookupHolding(contractID string) (Holding, bool, error)
}

// InstructionLookup finds pending transfer instructions that concern the
// treasury, so that an accept, reject or withdraw can be tied to the
// transfer it completes. A HoldingLookup passed to Classify that also
// implements InstructionLookup is used as one.
type InstructionLookup interface {
	LookupInstruction(contractID string) (Instruction, bool, error)
}

// Classifier turns the treasury's transactions into history entries.
// The zero value is not usable: Treasury must be set.
type Classifier struct {
	// Treasury is the party whose history is built.
	Treasury string
	// Account maps a deposit's reason to an account. Nil means
	// DefaultAccount.
	Account AccountFunc
	// Instruments, if not empty, are the only instruments whose contracts
	// and transfers count; see Config.Instruments.
	Instruments []Instrument
}

// counts reports whether inst is one of c.Instruments, or none are listed.
func (c Classifier) counts(inst Instrument) bool {
	return len(c.Instruments) == 0 || slices.Contains(c.Instruments, inst)
}

// mayCount is counts for an instrument id value (InstrumentId) that may not
// be read as one: it is false only if what can be read of it (its admin,
// and its id if text) is of no listed instrument.
func (c Classifier) mayCount(inst ledger.Value) bool {
	if len(c.Instruments) == 0 {
		return true
	}
	av, _ := inst.Field("admin")
	admin, err := av.AsParty()
	if err != nil {
		return true // not told: as if listed
	}
	iv, _ := inst.Field("id")
	id, idErr := iv.AsText()
	return slices.ContainsFunc(c.Instruments, func(l Instrument) bool {
		return l.Admin == admin && (idErr != nil || l.ID == id)
	})
}

// Classify is Classifier{Treasury: treasury}.Classify(tx, lookup).
func Classify(tx *ledger.Transaction, treasury string, lookup HoldingLookup) ([]Entry, error) {
	c := Classifier{Treasury: treasury}
	return c.Classify(tx, lookup)
}

// Classify returns the history entries of tx for the treasury, in node
// order. It follows the token standard's parsing rules:
//
//   - Events are walked in node order. An exercise of
//     TransferFactory_Transfer, or of any choice whose merged metadata has
//     tx-kind transfer, is one transfer; the events below it are part of it
//     and not looked at again. Likewise for the TransferInstruction choices
//     and for any exercise carrying another tx-kind (merge-split, burn,
//     mint, unlock, expire-dust, or one this package does not know),
//     unless a transfer is below it (a standard choice exercised through
//     its interface, or an exercise whose metadata says tx-kind
//     transfer): a transfer is no part of a burn or a mint, the tx-kind
//     may be its caller's, and the transfer is the operation.
//   - Operations nested inside other exercises (a wallet's batch, an
//     automation's choice) are found by descending into those exercises.
//   - The treasury's net change is the amount of its holdings created
//     minus that of its holdings archived inside the operation; archived
//     amounts come from lookup, or from holdings created earlier in tx.
//   - Treasury holdings created or archived outside any operation are
//     grouped by outermost exercise and classified from their locks and
//     amounts (lock, unlock, merge_split, other).
//   - Events that do not concern the treasury yield no entry.
//
// Malformed input yields a *ParseError naming the transaction and node, and
// no entries. lookup may be nil when the treasury has no earlier holdings.
// Classify does not modify lookup: apply the entries (HoldingSet.Apply)
// before classifying the next transaction.
func (c Classifier) Classify(tx *ledger.Transaction, lookup HoldingLookup) (entries []Entry, err error) {
	if tx == nil {
		return nil, errors.New("tokenstd: Classify: nil transaction")
	}
	if c.Treasury == "" {
		return nil, errors.New("tokenstd: Classify: no treasury party")
	}
	r := &run{c: c, tx: tx, holdings: lookup}
	if il, ok := lookup.(InstructionLookup); ok {
		r.instrs = il
	}
	if err := r.run(); err != nil {
		return nil, err
	}
	return r.entries, nil
}

type run struct {
	c        Classifier
	tx       *ledger.Transaction
	events   []ledger.Event
	holdings HoldingLookup
	instrs   InstructionLookup

	// The maps are nil until their first entry (put): most transactions
	// leave some of them empty.
	created      map[string]*Holding      // treasury holdings created in tx (pointers: a Holding is 160 bytes, and a map stores its values eight to a group)
	createdInstr map[string]Instruction   // instructions concerning the treasury created in tx
	consumed     map[string]int32         // contracts consumed in tx → node
	unread       map[string]unreadHolding // contracts created in tx whose Holding view failed or could not be read, ignored (see unreadNamed)

	entries    []Entry
	loose      map[looseKey]*change
	looseOrder []looseKey

	untouched *untouched // see touchesTreasury; nil until a subtree is found not to touch the books

	// nextTransfer[k] is the index of the first transfer (isTransfer) at
	// or after k, len(events) if none; made on first use (wrapsTransfer).
	nextTransfer []int
}

// put sets (*m)[k], making the map first if it is nil.
func put[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = make(map[K]V)
	}
	(*m)[k] = v
}

// unreadHolding is a contract created in the transaction whose Holding
// view failed or could not be read and that was ignored as not the
// treasury's (mayBeTreasurys), and why its view was not read.
type unreadHolding struct {
	ev  *ledger.CreatedEvent
	why string
}

type looseKey struct {
	root int32
	inst Instrument
}

// change is what happened to the treasury's holdings of one instrument.
type change struct {
	created, archived []Holding
}

// net is the change in the treasury's balance of the instrument: the
// amounts created less those archived.
//
// The sum starts from the first created holding's amount rather than from
// zero: a Decimal is immutable, and adding to zero would rescale and copy
// it (a deposit's net is its one holding's amount).
func (c *change) net() decimal.Decimal {
	var n decimal.Decimal
	for i, h := range c.created {
		if i == 0 {
			n = h.Amount
		} else {
			n = n.Add(h.Amount)
		}
	}
	for _, h := range c.archived {
		n = n.Sub(h.Amount)
	}
	return n
}

// changes collects an operation's effects on the treasury.
type changes struct {
	order   []Instrument       // the instruments changed, in the order first seen
	byOrder []*change          // byOrder[i] is the change of order[i]
	index   map[Instrument]int // position in order, once there are more than smallChanges
	instrs  []Instruction      // instructions (concerning the treasury) created inside
	closed  []closedInstr      // known instructions consumed inside, below the root
	others  []otherHolding     // who got non-treasury holdings created inside, of what
	otherIx map[otherKey]int   // position in others, once there are more than smallChanges
	gotAt   []gotAt            // the same, holding by holding, with its node (once an instruction closed)
	root    int32              // node of the operation
}

// otherHolding is an owner other than the treasury and an instrument it
// got a holding of inside an operation.
type otherHolding struct {
	owner string
	inst  Instrument
	// amount is what owner got of inst inside the operation.
	amount decimal.Decimal
	// n is how many holdings of inst owner got inside the operation.
	n int
}

type otherKey struct {
	owner string
	inst  Instrument
}

// other returns the position in cs.others of what owner got of inst, or -1.
func (cs *changes) other(owner string, inst Instrument) int {
	if cs.otherIx != nil {
		if i, ok := cs.otherIx[otherKey{owner, inst}]; ok {
			return i
		}
		return -1
	}
	return slices.IndexFunc(cs.others, func(o otherHolding) bool { return o.owner == owner && o.inst == inst })
}

// got records that owner got a holding of inst for amount.
func (cs *changes) got(owner string, inst Instrument, amount decimal.Decimal) {
	if i := cs.other(owner, inst); i >= 0 {
		cs.others[i].amount = cs.others[i].amount.Add(amount)
		cs.others[i].n++
		return
	}
	cs.others = append(cs.others, otherHolding{owner, inst, amount, 1})
	switch {
	case cs.otherIx != nil:
		cs.otherIx[otherKey{owner, inst}] = len(cs.others) - 1
	case len(cs.others) > smallChanges:
		cs.otherIx = make(map[otherKey]int, len(cs.others))
		for i, o := range cs.others {
			cs.otherIx[otherKey{o.owner, o.inst}] = i
		}
	}
}

// gotAt is a holding of inst that owner, not the treasury, got at node.
type gotAt struct {
	node  int32
	owner string
	inst  Instrument
}

// gotWithin reports whether owner got a holding of inst in the subtree that
// consumed cl.
func (cs *changes) gotWithin(owner string, inst Instrument, cl closedInstr) bool {
	return slices.ContainsFunc(cs.gotAt, func(g gotAt) bool {
		return g.owner == owner && g.inst == inst && g.node >= cl.node && g.node <= cl.last
	})
}

// gotBeside reports whether owner got a holding of inst inside the
// operation but below none of the choices with sub-events that closed an
// instruction: beside them (the funds moved by a transfer of its own).
// Holdings got before the first instruction closed are not in gotAt, and
// are beside them all.
func (cs *changes) gotBeside(owner string, inst Instrument) bool {
	i := cs.other(owner, inst)
	if i < 0 {
		return false
	}
	below := 0
	for _, g := range cs.gotAt {
		if g.owner != owner || g.inst != inst {
			continue
		}
		if slices.ContainsFunc(cs.closed, func(cl closedInstr) bool { return cl.last > cl.node && g.node >= cl.node && g.node <= cl.last }) {
			below++
		}
	}
	return cs.others[i].n > below
}

// hasOther reports whether owner got a holding of inst inside the operation.
func (cs *changes) hasOther(owner string, inst Instrument) bool {
	return cs.other(owner, inst) >= 0
}

// otherAmount is what owner got of inst inside the operation.
func (cs *changes) otherAmount(owner string, inst Instrument) decimal.Decimal {
	if i := cs.other(owner, inst); i >= 0 {
		return cs.others[i].amount
	}
	return decimal.Decimal{}
}

// firstOther is the first owner other than the treasury to get a holding
// inside the operation, or "".
func (cs *changes) firstOther() string {
	if len(cs.others) == 0 {
		return ""
	}
	return cs.others[0].owner
}

// othersOf is how many owners other than the treasury got a holding of inst
// inside the operation.
func (cs *changes) othersOf(inst Instrument) int {
	n := 0
	for _, o := range cs.others {
		if o.inst == inst {
			n++
		}
	}
	return n
}

// otherOf is the first owner other than the treasury to get a holding of
// inst inside the operation, or "".
func (cs *changes) otherOf(inst Instrument) string {
	for _, o := range cs.others {
		if o.inst == inst {
			return o.owner
		}
	}
	return ""
}

// smallChanges is how many instruments changes finds by scanning its
// slice; an operation usually changes one. Beyond it, a map keeps a
// transaction with many instruments from taking quadratic time.
const smallChanges = 8

type closedInstr struct {
	instr Instruction
	node  int32
	// last is the last node of the subtree that consumed the instruction
	// (node itself for an archive).
	last int32
}

// gainWithin is the treasury's net change in en's holdings created and
// archived inside the subtree that consumed cl.
func gainWithin(en *Entry, cl closedInstr) decimal.Decimal {
	var n decimal.Decimal
	for _, h := range en.Created {
		if h.Created.NodeID >= cl.node && h.Created.NodeID <= cl.last {
			n = n.Add(h.Amount)
		}
	}
	for _, h := range en.Archived {
		if a := h.Archived; a != nil && a.NodeID >= cl.node && a.NodeID <= cl.last {
			n = n.Sub(h.Amount)
		}
	}
	return n
}

// find returns the position of inst in cs.order, or -1.
func (cs *changes) find(inst Instrument) int {
	if cs.index != nil {
		if i, ok := cs.index[inst]; ok {
			return i
		}
		return -1
	}
	return slices.Index(cs.order, inst)
}

func (cs *changes) of(inst Instrument) *change {
	if i := cs.find(inst); i >= 0 {
		return cs.byOrder[i]
	}
	c := &change{}
	cs.order = append(cs.order, inst)
	cs.byOrder = append(cs.byOrder, c)
	switch {
	case cs.index != nil:
		cs.index[inst] = len(cs.order) - 1
	case len(cs.order) > smallChanges:
		cs.reindex()
	}
	return c
}

func (cs *changes) reindex() {
	cs.index = make(map[Instrument]int, len(cs.order))
	for i, inst := range cs.order {
		cs.index[inst] = i
	}
}

// take removes and returns the change of inst (nil if none).
func (cs *changes) take(inst Instrument) *change {
	i := cs.find(inst)
	if i < 0 {
		return nil
	}
	c := cs.byOrder[i]
	cs.order = slices.Delete(cs.order, i, i+1)
	cs.byOrder = slices.Delete(cs.byOrder, i, i+1)
	if cs.index != nil {
		cs.reindex()
	}
	return c
}

func (r *run) fail(node int32, format string, args ...any) error {
	return &ParseError{UpdateID: r.tx.UpdateID, Offset: r.tx.Offset, NodeID: node, Err: fmt.Errorf(format, args...)}
}

func (r *run) run() error {
	r.events = make([]ledger.Event, 0, len(r.tx.Events))
	for i, ev := range r.tx.Events {
		if ev == nil || isNilEvent(ev) {
			return r.fail(-1, "event %d is nil", i)
		}
		r.events = append(r.events, ev)
	}
	slices.SortStableFunc(r.events, func(a, b ledger.Event) int { return int(a.Node()) - int(b.Node()) })
	for i := 1; i < len(r.events); i++ {
		if r.events[i].Node() == r.events[i-1].Node() {
			return r.fail(r.events[i].Node(), "two events with node id %d", r.events[i].Node())
		}
	}
	// The exercises' node ranges must nest: an operation's sub-events are
	// the nodes in its range, so a range reaching past its enclosing one
	// would hand some of them to the wrong operation.
	var ends []int32 // last descendants of the enclosing exercises
	for _, ev := range r.events {
		node := ev.Node()
		for len(ends) > 0 && ends[len(ends)-1] < node {
			ends = ends[:len(ends)-1]
		}
		x, ok := ev.(*ledger.ExercisedEvent)
		if !ok {
			continue
		}
		if x.LastDescendantNodeID < node {
			return r.fail(node, "last descendant node id %d is below the node id", x.LastDescendantNodeID)
		}
		if len(ends) > 0 && x.LastDescendantNodeID > ends[len(ends)-1] {
			return r.fail(node, "last descendant node id %d is past that of the enclosing exercise (%d)",
				x.LastDescendantNodeID, ends[len(ends)-1])
		}
		ends = append(ends, x.LastDescendantNodeID)
	}

	var stack []*ledger.ExercisedEvent // enclosing exercises that are not operations
	for i := 0; i < len(r.events); {
		ev := r.events[i]
		node := ev.Node()
		for len(stack) > 0 && stack[len(stack)-1].LastDescendantNodeID < node {
			stack = stack[:len(stack)-1]
		}
		root := node
		if len(stack) > 0 {
			root = stack[0].NodeID
		}
		switch e := ev.(type) {
		case *ledger.ExercisedEvent:
			if e.LastDescendantNodeID < e.NodeID {
				return r.fail(node, "last descendant node id %d is below the node id", e.LastDescendantNodeID)
			}
			op, err := r.operation(e, i)
			if err != nil {
				return err
			}
			if op {
				i = r.subtreeEnd(i)
				continue
			}
			if e.Consuming {
				if err := r.looseConsume(e.ContractID, node, root); err != nil {
					return err
				}
			}
			stack = append(stack, e)
		case *ledger.CreatedEvent:
			if err := r.looseCreate(e, root); err != nil {
				return err
			}
		case *ledger.ArchivedEvent:
			if err := r.looseConsume(e.ContractID, node, root); err != nil {
				return err
			}
		default:
			return r.fail(node, "unknown event type %T", ev)
		}
		i++
	}
	r.flushLoose()
	if err := r.replaceAdvanced(); err != nil {
		return err
	}
	slices.SortStableFunc(r.entries, func(a, b Entry) int { return int(a.NodeID) - int(b.NodeID) })
	return nil
}

// replaceAdvanced finds instructions that ended without a standard outcome
// (failed or expired, moving no holding) in a transaction that also created
// their successor, whose view names them as originalInstructionCid, outside
// the subtree of the exercise that ended them (a registry's choice on its
// own contract archiving the instruction and creating the next one): the
// transfer was advanced, not ended. The ended entry is dropped and the
// successor's offer replaces the instruction, as instructionOp does when
// the successor is created inside the exercise on the instruction.
func (r *run) replaceAdvanced() error {
	// The entries holding an instruction that names an original, by that
	// original, in entry order: each ended instruction looks up its own
	// (not through every entry), and the replaced entries are dropped at
	// the end (not one by one, moving those after them each time).
	var successors map[string][]int
	var dropped []bool
	for i := range r.entries {
		e := &r.entries[i]
		if (e.Kind != KindFailed && e.Kind != KindExpired) || e.Instruction != nil || e.InstructionCID == "" ||
			len(e.Created) > 0 || len(e.Archived) > 0 || !e.Amount.IsZero() {
			continue
		}
		ended, reason := e.InstructionCID, e.Reason
		// The successor names the ended instruction, or the ended one's
		// original (a later step of a transfer evolved in several steps).
		var original string
		if in, ok, err := r.instruction(ended, e.NodeID); err != nil {
			return err
		} else if ok {
			original = in.OriginalInstructionCID
		}
		if successors == nil {
			successors = make(map[string][]int)
			for j := range r.entries {
				if n := r.entries[j].Instruction; n != nil && n.OriginalInstructionCID != "" {
					successors[n.OriginalInstructionCID] = append(successors[n.OriginalInstructionCID], j)
				}
			}
		}
		j := r.firstSuccessor(successors, ended)
		if original != "" && original != ended {
			if k := r.firstSuccessor(successors, original); k >= 0 && (j < 0 || k < j) {
				j = k
			}
		}
		if j < 0 {
			continue
		}
		n := r.entries[j].Instruction
		n.Replaces = ended
		if n.Reason == "" && n.Transfer.Meta[MetaReason] == "" {
			n.Reason = reason
		}
		if c, ok := r.createdInstr[n.ContractID]; ok {
			c.Replaces, c.Reason = n.Replaces, n.Reason
			put(&r.createdInstr, n.ContractID, c)
		}
		if r.entries[j].Reason == "" && reason != "" {
			r.entries[j].Reason = reason
			switch r.entries[j].Kind {
			case KindOfferOut:
				if n.Transfer.Receiver != r.c.Treasury {
					// As offer has it: a transfer to itself is no withdrawal.
					r.entries[j].WithdrawalID = reason
				}
			case KindOfferIn:
				if acct, ok := r.account(reason); ok {
					r.entries[j].Account = acct
				}
			}
		}
		if dropped == nil {
			dropped = make([]bool, len(r.entries))
		}
		dropped[i] = true
	}
	if dropped != nil {
		kept := r.entries[:0]
		for i := range r.entries {
			if !dropped[i] {
				kept = append(kept, r.entries[i])
			}
		}
		clear(r.entries[len(kept):])
		r.entries = kept
	}
	return nil
}

// firstSuccessor returns the index of the first entry in successors[cid]
// whose instruction replaces none yet, or -1; it forgets those before it,
// which replace one for good.
func (r *run) firstSuccessor(successors map[string][]int, cid string) int {
	js := successors[cid]
	for len(js) > 0 && r.entries[js[0]].Instruction.Replaces != "" {
		js = js[1:]
	}
	successors[cid] = js
	if len(js) == 0 {
		return -1
	}
	return js[0]
}

// succeeds reports whether in is a successor of instruction ended, whose
// own original is original: its view names either as its
// originalInstructionCid (a registry names the first instruction of the
// transfer in every successor).
func (in *Instruction) succeeds(ended, original string) bool {
	o := in.OriginalInstructionCID
	return o != "" && (o == ended || o == original)
}

func isNilEvent(ev ledger.Event) bool {
	switch e := ev.(type) {
	case *ledger.CreatedEvent:
		return e == nil
	case *ledger.ArchivedEvent:
		return e == nil
	case *ledger.ExercisedEvent:
		return e == nil
	}
	return false
}

// subtreeEnd returns the index of the first event after the subtree of the
// exercise at index i. The events are in node order: a search, not a walk
// of the subtree, which every level of a chain of nested choices may ask.
func (r *run) subtreeEnd(i int) int {
	last := r.events[i].(*ledger.ExercisedEvent).LastDescendantNodeID
	rest := r.events[i+1:]
	return i + 1 + sort.Search(len(rest), func(k int) bool { return rest[k].Node() > last })
}

// operation classifies the exercise at index i if it is a token standard
// operation, and reports whether it was one.
func (r *run) operation(e *ledger.ExercisedEvent, i int) (bool, error) {
	var stored bool
	if e.Consuming {
		in, ok, err := r.stored(e.ContractID, e.NodeID)
		if err != nil {
			return false, err
		}
		if ok && !r.c.counts(in.Transfer.Instrument) {
			// The treasury's instruction of an instrument that no longer
			// counts: a choice ending it is ignored as a transfer of it
			// is, its argument, result and metadata (its registry's) too,
			// however malformed; what else changed inside is reported as
			// leftovers.
			cs, err := r.collect(i)
			if err != nil {
				return false, err
			}
			cs.root = e.NodeID
			r.finish(nil, cs)
			return true, nil
		}
		stored = ok
	}
	std, err := isStandardChoice(e)
	if err != nil {
		if err := r.unreadable(i, err); err != nil {
			return false, err
		}
	}
	if std {
		a, err := decodeStandard(e)
		switch {
		case err != nil:
			if err := r.unreadable(i, err); err != nil {
				return false, err
			}
		case e.Choice == ChoiceTransferFactoryTransfer:
			return true, r.transferOp(e, i, a)
		default:
			return true, r.instructionOp(e, i, &a)
		}
	}
	if stored {
		return true, r.instructionOp(e, i, nil)
	}
	meta := lenientMerged(e)
	kind := meta[MetaTxKind]
	if kind == "" || kind != TxKindTransfer && r.wrapsTransfer(i) {
		return false, nil
	}
	return true, r.txKindOp(e, i, meta)
}

// standardArgs are the decoded argument and result of a standard choice.
type standardArgs struct {
	transfer TransferFactoryTransfer // TransferFactory_Transfer's argument
	extra    ExtraArgs               // a TransferInstruction choice's
	res      TransferInstructionResult
}

// decodeStandard decodes the argument and result of e, a standard choice.
func decodeStandard(e *ledger.ExercisedEvent) (standardArgs, error) {
	var a standardArgs
	var err error
	if e.Choice == ChoiceTransferFactoryTransfer {
		a.transfer, err = DecodeTransferFactoryTransfer(e.ChoiceArgument)
	} else {
		a.extra, err = DecodeInstructionChoice(e.Choice, e.ChoiceArgument)
	}
	if err != nil {
		return a, fmt.Errorf("%s choice argument: %w", e.Choice, err)
	}
	if a.res, err = DecodeTransferInstructionResult(e.ExerciseResult); err != nil {
		return a, fmt.Errorf("%s exercise result: %w", e.Choice, err)
	}
	return a, nil
}

// unreadable decides about the exercise at index i, a choice of a token
// standard interface (by its module's and entity's names) whose version
// this package does not read or whose argument or result is not of the
// standard's types (err): a ParseError if it may change the treasury's
// books (touchesTreasury), else nil, and the exercise is read as any other
// choice. Module names are not reserved: any party's package may declare
// an interface named as the standard's, with choices of its own types.
func (r *run) unreadable(i int, err error) error {
	mine, lerr := r.touchesTreasury(i)
	if lerr != nil {
		return lerr
	}
	if mine {
		return r.fail(r.events[i].Node(), "%w", err)
	}
	return nil
}

// touchesTreasury reports whether the subtree of the exercise at index i
// may change the treasury's books: the treasury acts in it or signs a
// contract created in it, a holding created in it names the treasury as
// owner and is signed by its instrument's admin, or it consumes a holding
// or an instruction of the treasury's.
//
// A subtree inside one found not to is not looked at again (a chain of
// nested choices would be looked at n²/2 times): only a contract consumed
// in it that became a holding or instruction of the treasury's since (its
// create came between) changes the answer.
func (r *run) touchesTreasury(i int) (bool, error) {
	end := r.subtreeEnd(i)
	if t := r.untouched; t != nil && i >= t.from && end <= t.to {
		for len(t.hot) > 0 && t.hot[0] < i {
			heap.Pop(&t.hot)
		}
		return len(t.hot) > 0 && t.hot[0] < end, nil
	}
	T := r.c.Treasury
	consumedAt := make(map[string]int)
	for k, ev := range r.events[i:end] {
		var consumed string
		switch x := ev.(type) {
		case *ledger.CreatedEvent:
			if slices.Contains(x.Signatories, T) {
				return true, nil
			}
			for _, v := range x.InterfaceViews {
				if v.InterfaceID.SameEntity(ledger.HoldingInterface) && r.mayBeTreasurys(x, v.Value, true) {
					return true, nil
				}
			}
		case *ledger.ExercisedEvent:
			if slices.Contains(x.ActingParties, T) {
				return true, nil
			}
			if x.Consuming {
				consumed = x.ContractID
			}
		case *ledger.ArchivedEvent:
			consumed = x.ContractID
		}
		if consumed == "" {
			continue
		}
		if _, again := consumedAt[consumed]; !again {
			consumedAt[consumed] = i + k
		}
		if _, ok := r.created[consumed]; ok {
			return true, nil
		}
		if r.holdings != nil {
			h, ok, err := r.holdings.LookupHolding(consumed)
			if err != nil {
				return false, fmt.Errorf("tokenstd: transaction %s at offset %d, node %d: looking up holding %s: %w",
					r.tx.UpdateID, r.tx.Offset, ev.Node(), consumed, err)
			}
			if ok && h.Owner == T && r.c.counts(h.Instrument) {
				return true, nil
			}
		}
		if _, known, err := r.instruction(consumed, ev.Node()); err != nil || known {
			return known, err
		}
	}
	r.untouched = &untouched{from: i, to: end, consumedAt: consumedAt}
	return false, nil
}

// untouched is the range of events [from, to) that touchesTreasury last
// found not to touch the treasury's books, what was consumed in it, and
// where (hot) it consumed a contract that became the treasury's since.
type untouched struct {
	from, to   int
	consumedAt map[string]int
	hot        indexHeap
}

// made notes that cid became a holding or an instruction of the
// treasury's. t may be nil.
func (t *untouched) made(cid string) {
	if t == nil {
		return
	}
	if k, ok := t.consumedAt[cid]; ok {
		heap.Push(&t.hot, k)
	}
}

// indexHeap is a min-heap of event indices (container/heap).
type indexHeap []int

func (h indexHeap) Len() int           { return len(h) }
func (h indexHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h indexHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *indexHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *indexHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// treasuryActs reports whether the treasury is an acting party of the
// exercise at index i or of one below it.
func (r *run) treasuryActs(i int) bool {
	for _, ev := range r.events[i:r.subtreeEnd(i)] {
		if x, ok := ev.(*ledger.ExercisedEvent); ok && slices.Contains(x.ActingParties, r.c.Treasury) {
			return true
		}
	}
	return false
}

// wrapsTransfer reports whether the subtree of the exercise at index i
// holds a transfer: a token standard choice exercised through its
// interface, or an exercise whose metadata says tx-kind transfer (a
// registry's own choice, such as Amulet's TransferPreapproval_Send). An
// exercise whose tx-kind is not transfer (burn, mint, merge-split, one of
// its own) is then not one operation: a transfer is not part of a burn or
// a mint, and the tx-kind may be its caller's free text (a depositor's
// own choice wrapping her deposit, the treasury a choice observer). The
// transfers inside it are the operations, classified as such.
func (r *run) wrapsTransfer(i int) bool {
	if r.nextTransfer == nil {
		// Once per transaction, each exercise looked at once: nested
		// exercises of their own tx-kinds would otherwise read the
		// metadata below them again at every level.
		r.nextTransfer = make([]int, len(r.events)+1)
		next := len(r.events)
		r.nextTransfer[next] = next
		for k := len(r.events) - 1; k >= 0; k-- {
			if x, ok := r.events[k].(*ledger.ExercisedEvent); ok && isTransfer(x) {
				next = k
			}
			r.nextTransfer[k] = next
		}
	}
	return r.nextTransfer[i+1] < r.subtreeEnd(i)
}

// isTransfer reports whether x is a transfer: a token standard choice
// exercised through its interface, or a choice whose metadata says tx-kind
// transfer.
func isTransfer(x *ledger.ExercisedEvent) bool {
	if x.InterfaceID != nil {
		if std, _ := isStandardChoice(x); std {
			return true
		}
	}
	return lenientMerged(x)[MetaTxKind] == TxKindTransfer
}

// views decodes the token standard interface views of a created event into
// hv and iv, and reports which it found. The caller's views stay on its
// stack: most created events are holdings that are copied or dropped.
func (r *run) views(e *ledger.CreatedEvent, hv *HoldingView, iv *TransferInstructionView) (isHolding, isInstr bool, err error) {
	for _, v := range e.InterfaceViews {
		standard, supported := IsTokenStandardModule(v.InterfaceID.ModuleName)
		if !standard {
			continue
		}
		if !supported {
			return false, false, r.fail(e.NodeID, "contract %s: view of interface %s: %w", e.ContractID, v.InterfaceID, ErrUnsupportedVersion)
		}
		holding := v.InterfaceID.SameEntity(ledger.HoldingInterface)
		instr := v.InterfaceID.SameEntity(ledger.TransferInstructionInterface)
		if !holding && !instr {
			continue
		}
		if v.StatusCode != 0 {
			if !r.mayBeTreasurys(e, v.Value, holding) {
				if holding && r.mayCountHolding(v.Value) {
					put(&r.unread, e.ContractID, unreadHolding{e, fmt.Sprintf("the participant could not compute the view of %s: code %d: %s",
						v.InterfaceID, v.StatusCode, v.StatusMessage)})
				}
				continue
			}
			return false, false, r.fail(e.NodeID, "contract %s: the participant could not compute the view of %s: code %d: %s",
				e.ContractID, v.InterfaceID, v.StatusCode, v.StatusMessage)
		}
		if e.ContractID == "" {
			return false, false, r.fail(e.NodeID, "created event without a contract id")
		}
		if holding {
			h, err := DecodeHoldingView(v.Value)
			if err != nil {
				if !r.mayBeTreasurys(e, v.Value, holding) {
					if r.mayCountHolding(v.Value) {
						put(&r.unread, e.ContractID, unreadHolding{e, fmt.Sprintf("holding view: %v", err)})
					}
					continue
				}
				return false, false, r.fail(e.NodeID, "contract %s: holding view: %w", e.ContractID, err)
			}
			*hv, isHolding = h, true
		} else {
			t, err := DecodeTransferInstructionView(v.Value)
			if err != nil {
				if !r.mayBeTreasurys(e, v.Value, holding) {
					continue
				}
				return false, false, r.fail(e.NodeID, "contract %s: transfer instruction view: %w", e.ContractID, err)
			}
			*iv, isInstr = t, true
		}
	}
	return isHolding, isInstr, nil
}

// mayBeTreasurys reports whether a contract whose view (a Holding's, or
// else a TransferInstruction's) failed or cannot be read may change the
// treasury's books: the treasury signed it (its holding, or its own
// instruction, locking its funds), or it is a holding whose view, as far
// as it can be read, names the treasury as owner and whose instrument's
// admin signed it. Another is ignored: a contract of any party's template
// with the treasury as observer, whose view is that template's code, or
// another party's offer to the treasury, which moves nothing of the
// treasury's until the treasury accepts it (and an accept of an
// instruction not known is read from the choice). A contract whose view's
// instrument, as far as it can be read, is not among the Instruments
// counted is ignored too, whoever signed it. views notes an ignored
// holding (run.unread) unless its view names an instrument not counted
// (mayCountHolding): a standard transfer in which the registry says it is
// the treasury's fails (unreadNamed).
func (r *run) mayBeTreasurys(e *ledger.CreatedEvent, view ledger.Value, holding bool) bool {
	var inst ledger.Value
	if holding {
		inst, _ = view.Field("instrumentId")
	} else {
		t, _ := view.Field("transfer")
		inst, _ = t.Field("instrumentId")
	}
	if !r.c.mayCount(inst) {
		return false
	}
	if slices.Contains(e.Signatories, r.c.Treasury) {
		return true
	}
	if !holding {
		return false
	}
	owner, _ := view.Field("owner")
	admin, _ := inst.Field("admin")
	o, _ := owner.AsParty()
	a, _ := admin.AsParty()
	return o == r.c.Treasury && a != "" && slices.Contains(e.Signatories, a)
}

// mayCountHolding reports whether a Holding view that failed or cannot be
// read may be of an instrument counted (Classifier.mayCount of its
// instrumentId, as far as it can be read: a failed view has none). views
// notes only such a holding as unread: a holding whose view names an
// instrument not listed is ignored however malformed, even where a
// standard transfer of a listed one would make it the treasury's
// (unreadNamed).
func (r *run) mayCountHolding(view ledger.Value) bool {
	inst, _ := view.Field("instrumentId")
	return r.c.mayCount(inst)
}

func (r *run) pos(node int32) Position {
	return Position{UpdateID: r.tx.UpdateID, Offset: r.tx.Offset, RecordTime: r.tx.RecordTime, NodeID: node}
}

// create records a created event; it returns the treasury holding created,
// if any, and any instruction concerning the treasury.
func (r *run) create(e *ledger.CreatedEvent, cs *changes) (*Holding, *Instruction, error) {
	var hv HoldingView
	var iv TransferInstructionView
	isHolding, isInstr, err := r.views(e, &hv, &iv)
	if err != nil {
		return nil, nil, err
	}
	if _, dup := r.created[e.ContractID]; dup && isHolding {
		return nil, nil, r.fail(e.NodeID, "contract %s created twice", e.ContractID)
	}
	var h *Holding
	if isHolding && hv.Owner == r.c.Treasury && !slices.Contains(e.Signatories, hv.Instrument.Admin) {
		// The view is the template's own claim: a contract its
		// instrument's admin did not sign is no holding of that
		// instrument, whatever it says, and anyone may create one with
		// the treasury as observer. It is not the treasury's. The
		// treasury's own signature proves nothing: the body of a choice
		// the treasury exercises (accepting mallory's instruction) runs
		// mallory's code with the treasury's authority.
		isHolding = false
	}
	if isHolding && !r.c.counts(hv.Instrument) {
		// An instrument not counted: anyone may create one and send the
		// treasury holdings of it. Ignored, as a forged holding is, for
		// every owner.
		isHolding = false
	}
	if isHolding {
		if hv.Owner == r.c.Treasury {
			h = &Holding{ContractID: e.ContractID, HoldingView: hv, Created: r.pos(e.NodeID)}
			put(&r.created, e.ContractID, h)
			r.untouched.made(e.ContractID)
		} else if cs != nil {
			if len(cs.closed) > 0 {
				// Only below a closed instruction's choice is gotAt asked
				// about, and that choice (its node) comes before its
				// subtree's events.
				cs.gotAt = append(cs.gotAt, gotAt{e.NodeID, hv.Owner, hv.Instrument})
			}
			cs.got(hv.Owner, hv.Instrument, hv.Amount)
		}
	}
	var in *Instruction
	if isInstr && (iv.Transfer.Sender == r.c.Treasury || iv.Transfer.Receiver == r.c.Treasury) &&
		(!slices.Contains(e.Signatories, iv.Transfer.Instrument.Admin) ||
			(iv.Transfer.Sender == r.c.Treasury && !slices.Contains(e.Signatories, r.c.Treasury))) {
		// As for holdings: the view is the template's claim, and anyone may
		// create a contract whose view names the treasury, and a
		// withdrawal's id as reason, with the treasury as observer. An
		// instruction of an instrument is signed by its admin, and one of
		// the treasury's funds (it locks them) by the treasury, its sender.
		// Another is no instruction of the treasury's: it is ignored.
		isInstr = false
	}
	if isInstr && !r.c.counts(iv.Transfer.Instrument) {
		isInstr = false // an instrument not counted, as for holdings
	}
	if isInstr && (iv.Transfer.Sender == r.c.Treasury || iv.Transfer.Receiver == r.c.Treasury) {
		in = &Instruction{ContractID: e.ContractID, TransferInstructionView: iv, Created: r.pos(e.NodeID)}
		put(&r.createdInstr, e.ContractID, *in)
		r.untouched.made(e.ContractID)
	}
	return h, in, nil
}

// consume records the consumption of a contract and returns the treasury
// holding it was, if any.
func (r *run) consume(cid string, node int32) (Holding, bool, error) {
	if cid == "" {
		return Holding{}, false, r.fail(node, "consumed contract without a contract id")
	}
	if first, dup := r.consumed[cid]; dup {
		return Holding{}, false, r.fail(node, "contract %s consumed twice (first at node %d)", cid, first)
	}
	put(&r.consumed, cid, node)
	var h Holding
	made, ok := r.created[cid]
	if ok {
		h = *made
	} else if r.holdings != nil {
		var err error
		h, ok, err = r.holdings.LookupHolding(cid)
		if err != nil {
			return Holding{}, false, fmt.Errorf("tokenstd: transaction %s at offset %d, node %d: looking up holding %s: %w",
				r.tx.UpdateID, r.tx.Offset, node, cid, err)
		}
		if ok && h.Archived != nil && h.Archived.UpdateID != r.tx.UpdateID {
			return Holding{}, false, r.fail(node, "holding %s is archived again; it was archived by update %s at offset %d",
				cid, h.Archived.UpdateID, h.Archived.Offset)
		}
	}
	if !ok || h.Owner != r.c.Treasury {
		return Holding{}, false, nil
	}
	p := r.pos(node)
	h.Archived = &p
	return h, true, nil
}

// instruction returns the pending instruction with the given contract id,
// if it concerns the treasury.
func (r *run) instruction(cid string, node int32) (Instruction, bool, error) {
	in, ok, err := r.stored(cid, node)
	if ok && !r.c.counts(in.Transfer.Instrument) {
		// Stored before its instrument stopped counting: no instruction
		// of the treasury's, as any other of the instrument.
		return Instruction{}, false, nil
	}
	return in, ok, err
}

// stored returns the pending instruction with the given contract id, if it
// concerns the treasury, whether its instrument counts or not.
func (r *run) stored(cid string, node int32) (Instruction, bool, error) {
	if in, ok := r.createdInstr[cid]; ok {
		return in, true, nil
	}
	if r.instrs == nil {
		return Instruction{}, false, nil
	}
	in, ok, err := r.instrs.LookupInstruction(cid)
	if err != nil {
		return Instruction{}, false, fmt.Errorf("tokenstd: transaction %s at offset %d, node %d: looking up transfer instruction %s: %w",
			r.tx.UpdateID, r.tx.Offset, node, cid, err)
	}
	return in, ok, nil
}

// collect gathers the effects of the subtree of the exercise at index i,
// the exercise included.
func (r *run) collect(i int) (*changes, error) {
	root := r.events[i].(*ledger.ExercisedEvent)
	cs := &changes{}
	end := r.subtreeEnd(i)
	for k, ev := range r.events[i:end] {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			h, in, err := r.create(e, cs)
			if err != nil {
				return nil, err
			}
			if h != nil {
				c := cs.of(h.Instrument)
				c.created = append(c.created, *h)
			}
			if in != nil {
				cs.instrs = append(cs.instrs, *in)
			}
		case *ledger.ExercisedEvent, *ledger.ArchivedEvent:
			if x, ok := e.(*ledger.ExercisedEvent); ok {
				if x.LastDescendantNodeID < x.NodeID {
					return nil, r.fail(x.NodeID, "last descendant node id %d is below the node id", x.LastDescendantNodeID)
				}
				if _, err := isStandardChoice(x); err != nil {
					if err := r.unreadable(i+k, err); err != nil {
						return nil, err
					}
				}
				if !x.Consuming {
					continue
				}
			}
			if err := r.collectConsume(ev, root, cs); err != nil {
				return nil, err
			}
		default:
			return nil, r.fail(ev.Node(), "unknown event type %T", ev)
		}
	}
	return cs, nil
}

func (r *run) collectConsume(ev ledger.Event, root *ledger.ExercisedEvent, cs *changes) error {
	cid, node := ev.Contract(), ev.Node()
	if node != root.NodeID {
		in, known, err := r.instruction(cid, node)
		if err != nil {
			return err
		}
		if known {
			last := node
			if x, ok := ev.(*ledger.ExercisedEvent); ok {
				last = x.LastDescendantNodeID
			}
			cs.closed = append(cs.closed, closedInstr{instr: in, node: node, last: last})
		}
	}
	h, treasury, err := r.consume(cid, node)
	if err != nil {
		return err
	}
	if treasury {
		c := cs.of(h.Instrument)
		c.archived = append(c.archived, h)
	}
	return nil
}

func (r *run) newEntry(node int32, kind Kind, inst Instrument, c *change) Entry {
	e := Entry{
		UpdateID: r.tx.UpdateID, Offset: r.tx.Offset, RecordTime: r.tx.RecordTime, SynchronizerID: r.tx.SynchronizerID,
		NodeID: node, Kind: kind, Instrument: inst,
	}
	if c != nil {
		e.Created, e.Archived, e.Amount = c.created, c.archived, c.net()
	}
	return e
}

func (r *run) account(reason string) (string, bool) {
	if r.c.Account != nil {
		return r.c.Account(reason)
	}
	return DefaultAccount(reason)
}

// finish emits the operation's entry, then entries for its leftovers:
// changes of other instruments and instructions closed inside.
func (r *run) finish(e *Entry, cs *changes) {
	if e != nil {
		r.entries = append(r.entries, *e)
	}
	for i, inst := range cs.order {
		o := r.newEntry(r.nodeOf(e, cs), KindOther, inst, cs.byOrder[i])
		if e != nil {
			// Not the metadata: the operation's entry, at the same node,
			// has it. Copied to every leftover it would be written once
			// per instrument changed inside, as much as the operation's
			// author cares to make.
			o.TxKind, o.Choice = e.TxKind, e.Choice
		}
		r.entries = append(r.entries, o)
	}
	for _, in := range cs.instrs {
		o := r.newEntry(in.Created.NodeID, KindOther, in.Transfer.Instrument, nil)
		o.Meta = in.Transfer.Meta.Merge(in.Meta)
		o.Reason = in.Transfer.Meta[MetaReason]
		r.offer(&o, in)
		r.entries = append(r.entries, o)
	}
	for _, cl := range cs.closed {
		o := r.newEntry(cl.node, r.endedKind(cl.instr), cl.instr.Transfer.Instrument, nil)
		r.fillInstruction(&o, cl.instr)
		r.entries = append(r.entries, o)
	}
}

func (r *run) nodeOf(e *Entry, cs *changes) int32 {
	if e != nil {
		return e.NodeID
	}
	return cs.root
}

// endedKind classifies an instruction that ended without a standard
// outcome: expired once its deadline passed, failed before.
func (r *run) endedKind(in Instruction) Kind {
	if !in.Transfer.ExecuteBefore.IsZero() && !r.tx.RecordTime.Before(in.Transfer.ExecuteBefore) {
		return KindExpired
	}
	return KindFailed
}

func (r *run) fillInstruction(e *Entry, in Instruction) {
	t := in.Transfer
	e.InstructionCID = in.ContractID
	e.Sender, e.Receiver, e.Transferred = t.Sender, t.Receiver, t.Amount
	e.Reason = t.Meta[MetaReason]
	if e.Reason == "" {
		e.Reason = in.Reason
	}
	switch r.c.Treasury {
	case t.Receiver:
		if t.Sender != r.c.Treasury {
			e.Counterparty = t.Sender
		}
	case t.Sender:
		e.Counterparty = t.Receiver
		e.WithdrawalID = e.Reason
	}
}

// completed fills in a completed transfer of amount from sender to receiver.
// With no receiver named, a withdrawal's counterparty is otherOwner (the
// first other party to get a holding in the operation).
func (r *run) completed(e *Entry, sender, receiver string, amount decimal.Decimal, otherOwner string) {
	t := r.c.Treasury
	e.Sender, e.Receiver, e.Transferred = sender, receiver, amount
	switch {
	case sender == t && receiver == t:
		e.Kind = KindMergeSplit
		e.Fee = e.Amount.Neg()
	case receiver == t:
		e.Counterparty = sender
		if !e.Amount.IsPositive() {
			e.Kind = KindOther
			return
		}
		if acct, ok := r.account(e.Reason); ok {
			e.Kind, e.Account = KindDeposit, acct
		} else {
			e.Kind = KindDepositUnassigned
		}
	case sender == t:
		e.Kind = KindWithdrawal
		e.Counterparty = receiver
		if e.Counterparty == "" {
			e.Counterparty = otherOwner
		}
		e.WithdrawalID = e.Reason
		e.Fee = e.Amount.Neg().Sub(amount)
	default:
		e.Kind = KindOther
	}
}

func (r *run) burned(node int32, meta Metadata) (decimal.Decimal, error) {
	s, ok := meta[MetaBurned]
	if !ok || s == "" {
		return decimal.Decimal{}, nil
	}
	d, err := ledger.ParseDecimal(s)
	if err != nil {
		return decimal.Decimal{}, r.fail(node, "metadata %s: %w", MetaBurned, err)
	}
	if d.IsNegative() {
		return decimal.Decimal{}, r.fail(node, "metadata %s: negative amount %s", MetaBurned, d)
	}
	return d, nil
}

func (r *run) transferOp(e *ledger.ExercisedEvent, i int, a standardArgs) error {
	arg, res := a.transfer, a.res
	meta := arg.Transfer.Meta.Merge(arg.ExtraArgs.Meta, res.Meta)
	cs, err := r.collect(i)
	if err != nil {
		return err
	}
	cs.root = e.NodeID
	t := arg.Transfer
	T := r.c.Treasury
	if !r.c.counts(t.Instrument) {
		// A transfer of an instrument not counted, its result and its
		// metadata (the registry's, anyone's) change nothing of the
		// treasury's; what else changed inside is reported as leftovers.
		r.finish(nil, cs)
		return nil
	}
	if t.Sender == T && !slices.Contains(e.ActingParties, T) {
		// Through the TransferFactory interface the sender is the choice's
		// controller. A choice of that name the treasury did not exercise
		// is a template's own (anyone's), its argument free text: the
		// treasury is not its sender.
		t.Sender = ""
	}
	// What was burned is the registry's word, in its result: the sender's
	// transfer.meta and extraArgs.meta are free text that a depositor
	// writes. It is checked only for the treasury's own transfer (its
	// fee): of another's, the registry may be anyone's (mallory's, of her
	// own instrument), and the amount is not used here.
	if t.Sender == T {
		if _, err := r.burned(e.NodeID, res.Meta); err != nil {
			return err
		}
		if err := r.spentUnknown(e, cs, t.InputHoldingCIDs); err != nil {
			return err
		}
	}
	if err := r.unreadNamed(e, i, t, res); err != nil {
		return err
	}
	main := cs.take(t.Instrument)
	if t.Sender != T && t.Receiver != T && main == nil {
		r.finish(nil, cs)
		return nil
	}
	en := r.newEntry(e.NodeID, KindOther, t.Instrument, main)
	en.Choice, en.TxKind, en.Meta, en.Reason = e.Choice, meta[MetaTxKind], meta, meta[MetaReason]
	switch res.Output {
	case OutputCompleted:
		r.completed(&en, t.Sender, t.Receiver, t.Amount, cs.firstOther())
	case OutputPending:
		in := r.pendingInstruction(cs, res.InstructionCID, t, e.NodeID)
		r.offer(&en, in)
	case OutputFailed:
		en.Kind = KindFailed
		en.Sender, en.Receiver, en.Transferred = t.Sender, t.Receiver, t.Amount
		if t.Sender == T {
			en.Fee = en.Amount.Neg()
			en.WithdrawalID = en.Reason
			en.Counterparty = t.Receiver
		} else {
			en.Counterparty = t.Sender
		}
	}
	r.finish(&en, cs)
	return nil
}

// unreadNamed fails a standard transfer choice (e, at index i) of
// transfer t when a contract created inside it, signed by t's instrument
// admin, whose Holding view failed or could not be read, is the
// treasury's by the registry's word: its result names it as a holding the
// receiver got, of a completed transfer to the treasury, or as the
// sender's change, of the treasury's own transfer; or, in the treasury's
// own transfer, the treasury is one of its stakeholders (the funds it
// locks for an offer, which no result names), the result does not name
// it as the holding of a receiver other than the treasury, and it is not
// archived inside the transfer. mayBeTreasurys ignores such
// a view when the treasury did not sign the contract (a registry whose
// owners do not sign their holdings makes the treasury only an
// observer): ignored, a deposit would be booked as nothing, a
// withdrawal's change or locked funds as a fee, and the holding missing
// from the holding set. The choice is a TransferFactory_Transfer, or a
// choice on an instruction whose transfer is known.
func (r *run) unreadNamed(e *ledger.ExercisedEvent, i int, t Transfer, res TransferInstructionResult) error {
	if len(r.unread) == 0 || t.Instrument.Admin == "" || !r.c.counts(t.Instrument) {
		return nil
	}
	T := r.c.Treasury
	if t.Receiver == T && res.Output == OutputCompleted {
		if err := r.unreadAmong(e, t, res.ReceiverHoldingCIDs, "a holding the treasury received"); err != nil {
			return err
		}
	}
	if t.Sender != T {
		return nil
	}
	if err := r.unreadAmong(e, t, res.SenderChangeCIDs, "the treasury's change"); err != nil {
		return err
	}
	for _, ev := range r.events[i+1 : r.subtreeEnd(i)] {
		c, ok := ev.(*ledger.CreatedEvent)
		if !ok {
			continue
		}
		u, ok := r.unread[c.ContractID]
		if !ok || u.ev != c || !slices.Contains(c.Signatories, t.Instrument.Admin) ||
			!slices.Contains(c.Observers, T) && !slices.Contains(c.Signatories, T) {
			continue
		}
		if t.Receiver != T && slices.Contains(res.ReceiverHoldingCIDs, c.ContractID) {
			// The registry names it as the receiver's: a holding of
			// another party, the treasury only its observer.
			continue
		}
		if node, gone := r.consumed[c.ContractID]; gone && node > c.NodeID && node <= e.LastDescendantNodeID {
			// Archived inside the transfer too: whatever its amount,
			// it adds nothing to the treasury's books.
			continue
		}
		return r.fail(c.NodeID, "contract %s, created in the treasury's %s (node %d) with the treasury a stakeholder, signed by %s's admin: %s",
			c.ContractID, e.Choice, e.NodeID, t.Instrument, u.why)
	}
	return nil
}

// unreadAmong is unreadNamed for the contracts cids, named as what.
func (r *run) unreadAmong(e *ledger.ExercisedEvent, t Transfer, cids []string, what string) error {
	for _, cid := range cids {
		u, ok := r.unread[cid]
		if !ok || u.ev.NodeID <= e.NodeID || u.ev.NodeID > e.LastDescendantNodeID || !slices.Contains(u.ev.Signatories, t.Instrument.Admin) {
			continue
		}
		return r.fail(u.ev.NodeID, "contract %s, which the result of %s (node %d) names as %s, signed by %s's admin: %s",
			cid, e.Choice, e.NodeID, what, t.Instrument, u.why)
	}
	return nil
}

// spentUnknown fails the treasury's own transfer (e) when one of its input
// holdings, consumed inside it, is not a treasury holding the lookup
// knows: the inputs of the sender's transfer are the sender's holdings, so
// the holding set misses one (created before ingestion began, while its
// instrument was not listed, or in a transaction set aside), and the
// amount and fee worked out without it would be wrong.
func (r *run) spentUnknown(e *ledger.ExercisedEvent, cs *changes, inputs []string) error {
	// A merge may spend thousands of inputs: beyond a few, a set of the
	// archived holdings keeps the check linear.
	var archived map[string]struct{}
	if len(inputs) > smallChanges {
		archived = map[string]struct{}{}
		for _, c := range cs.byOrder {
			for _, h := range c.archived {
				archived[h.ContractID] = struct{}{}
			}
		}
	}
	for _, cid := range inputs {
		node, ok := r.consumed[cid]
		if !ok || node <= e.NodeID || node > e.LastDescendantNodeID {
			continue
		}
		known := false
		if archived != nil {
			_, known = archived[cid]
		} else {
			for _, c := range cs.byOrder {
				if slices.ContainsFunc(c.archived, func(h Holding) bool { return h.ContractID == cid }) {
					known = true
					break
				}
			}
		}
		if !known {
			return r.fail(node, "the treasury's transfer spends its holding %s, which the holding set does not know: "+
				"it was created before the offset ingestion began at (ingest.Config.StartOffset), while its instrument was not listed "+
				"(Config.Instruments), or by a transaction set aside; "+
				"ingest the treasury into a new Integration DB from an offset before its first holding was created", cid)
		}
	}
	return nil
}

// pendingInstruction returns the instruction a Pending result names: its
// view from the created event if the treasury saw it, or else one built
// from the transfer.
func (r *run) pendingInstruction(cs *changes, cid string, t Transfer, node int32) Instruction {
	for j, in := range cs.instrs {
		if in.ContractID == cid {
			cs.instrs = slices.Delete(cs.instrs, j, j+1)
			return in
		}
	}
	in := Instruction{
		ContractID:              cid,
		TransferInstructionView: TransferInstructionView{Transfer: t, Status: StatusPendingReceiverAcceptance},
		Created:                 r.pos(node),
	}
	if t.Sender == r.c.Treasury || t.Receiver == r.c.Treasury {
		put(&r.createdInstr, cid, in)
		r.untouched.made(cid)
	}
	return in
}

// offer fills in a pending transfer instruction.
func (r *run) offer(e *Entry, in Instruction) {
	r.fillInstruction(e, in)
	if e.Reason == "" {
		// The reason given in the offer's other metadata (extraArgs.meta,
		// the result's), else in the instruction view's own meta (which
		// the offer's metadata merges when no exercise created it): the
		// instruction keeps it, so that whatever ends it carries the
		// offer's reason, however the instruction was created.
		e.Reason = e.Meta[MetaReason]
		if e.Reason == "" {
			e.Reason = in.Meta[MetaReason]
		}
		in.Reason = e.Reason
		if _, ok := r.createdInstr[in.ContractID]; ok {
			put(&r.createdInstr, in.ContractID, in)
		}
	}
	e.Instruction = &in
	t := r.c.Treasury
	switch {
	case in.Transfer.Sender == t:
		e.Kind = KindOfferOut
		if in.Transfer.Receiver != t {
			// A transfer to itself is no withdrawal, as fillInstruction
			// has it for whatever ends the instruction: an offer naming
			// one would leave it pending acceptance for good.
			e.WithdrawalID = e.Reason
		}
		e.Fee = e.Amount.Neg()
	case in.Transfer.Receiver == t:
		e.Kind = KindOfferIn
		if acct, ok := r.account(e.Reason); ok {
			e.Account = acct
		}
	default:
		e.Kind = KindOther
	}
}

// instructionOp classifies the exercise at index i on a transfer
// instruction: a standard choice with its decoded argument and result a,
// or, with a nil, a choice outside the standard on a known instruction.
func (r *run) instructionOp(e *ledger.ExercisedEvent, i int, a *standardArgs) error {
	in, known, err := r.instruction(e.ContractID, e.NodeID)
	if err != nil {
		return err
	}
	std := a != nil
	var res TransferInstructionResult
	var meta, own Metadata // own: the registry's (the result's), where a burned amount is checked
	if std {
		res = a.res
		meta, own = in.Transfer.Meta.Merge(a.extra.Meta, res.Meta), res.Meta
	} else {
		// The result's metadata is the registry's word; the argument's
		// (its transfer.meta, extraArgs.meta) is the free text of
		// whoever exercised the choice, a counterparty perhaps.
		meta, own = in.Transfer.Meta.Merge(lenientMerged(e)), lenientMeta(e.ExerciseResult, "meta")
	}
	cs, err := r.collect(i)
	if err != nil {
		return err
	}
	cs.root = e.NodeID
	T := r.c.Treasury
	if !known {
		// An instruction the treasury never saw created: reconstruct what
		// the choice tells. Accept and reject are the receiver's choices,
		// withdraw the sender's.
		in = Instruction{ContractID: e.ContractID}
		in.Transfer.Sender = meta[MetaSender]
		if in.Transfer.Sender == T && !(spent(cs) && r.treasuryActs(i)) {
			// The metadata is the free text of whoever exercised the
			// choice and of the contract's implementation: the treasury
			// sent the transfer only if the choice spent its holdings (an
			// instruction of its own ends by spending or unlocking the
			// funds it locked, which a contract it did not sign cannot)
			// with its authority (it acts in an exercise below: the
			// archive of a holding it signed; a holding its instrument's
			// admin alone signed is the admin's to archive), or it acted
			// itself (withdraw, below).
			in.Transfer.Sender = ""
		}
		if slices.Contains(e.ActingParties, T) {
			switch e.Choice {
			case ChoiceInstructionAccept, ChoiceInstructionReject:
				in.Transfer.Receiver = T
			case ChoiceInstructionWithdraw:
				in.Transfer.Sender = T
			}
		}
		if len(cs.order) > 0 {
			in.Transfer.Instrument = cs.order[0]
		}
		if in.Transfer.Sender != T && in.Transfer.Receiver != T && len(cs.order) == 0 {
			r.finish(nil, cs)
			return nil
		}
	}
	t := in.Transfer
	// As in transferOp: a burned amount in the sender's transfer.meta, or
	// in the caller's metadata, is not the registry's and is not checked;
	// the registry's is checked only for the treasury's own transfer.
	if t.Sender == T {
		if _, err := r.burned(e.NodeID, own); err != nil {
			return err
		}
	}
	if std {
		if err := r.unreadNamed(e, i, t, res); err != nil {
			return err
		}
	}
	main := cs.take(t.Instrument)
	en := r.newEntry(e.NodeID, KindOther, t.Instrument, main)
	en.Choice, en.TxKind, en.Meta = e.Choice, meta[MetaTxKind], meta
	r.fillInstruction(&en, in)
	if en.Reason == "" {
		if t.Sender == T {
			// A withdrawal id is not the caller's to give: the argument's
			// metadata is the free text of whoever exercised the choice
			// (the receiver). Only the result's, the implementation's.
			en.Reason = own[MetaReason]
			en.WithdrawalID = en.Reason
		} else {
			en.Reason = meta[MetaReason]
		}
	}
	out := res.Output
	if !std {
		out = ""
		if meta[MetaTxKind] == TxKindTransfer && movedAsTransfer(&en, t, T) {
			out = OutputCompleted
		}
		// A new instruction of the same transfer created inside it (its
		// view names this one, or this one's original, as its original):
		// the registry's choice advanced the transfer, it did not end it.
		for _, c := range cs.instrs {
			if out == "" && c.succeeds(e.ContractID, in.OriginalInstructionCID) {
				out, res.InstructionCID = OutputPending, c.ContractID
			}
		}
	}
	switch out {
	case OutputCompleted:
		r.completed(&en, t.Sender, t.Receiver, t.Amount, cs.firstOther())
	case OutputPending:
		next := r.pendingInstruction(cs, res.InstructionCID, t, e.NodeID)
		next.Replaces = e.ContractID
		if next.Reason == "" {
			next.Reason = in.Reason
		}
		if c, ok := r.createdInstr[next.ContractID]; ok {
			c.Replaces, c.Reason = e.ContractID, next.Reason
			put(&r.createdInstr, next.ContractID, c)
		}
		r.offer(&en, next)
	default:
		switch e.Choice {
		case ChoiceInstructionReject:
			en.Kind = KindRejected
		case ChoiceInstructionWithdraw:
			en.Kind = KindWithdrawn
		default:
			en.Kind = r.endedKind(in)
		}
		en.Fee = en.Amount.Neg()
	}
	r.finish(&en, cs)
	return nil
}

// spent reports whether the treasury's holdings were archived inside the
// operation.
func spent(cs *changes) bool {
	for _, c := range cs.byOrder {
		if len(c.archived) > 0 {
			return true
		}
	}
	return false
}

// movedAsTransfer reports whether the treasury's net change en.Amount in
// an instruction ended by a choice outside the standard is that of the
// instruction's transfer t done: as receiver the treasury got funds, as
// sender it lost at least the amount. The metadata's tx-kind alone does not
// say that the funds went to the receiver: a registry's choice may have
// returned them to the sender.
func movedAsTransfer(en *Entry, t Transfer, T string) bool {
	switch {
	case t.Sender == T && t.Receiver == T:
		return false
	case t.Receiver == T:
		return en.Amount.IsPositive()
	case t.Sender == T:
		return en.Amount.IsNegative() && !en.Amount.Neg().LessThan(t.Amount)
	}
	return false
}

// txKindOp classifies an exercise that carries a tx-kind but is not a
// standard choice.
func (r *run) txKindOp(e *ledger.ExercisedEvent, i int, meta Metadata) error {
	cs, err := r.collect(i)
	if err != nil {
		return err
	}
	cs.root = e.NodeID
	T := r.c.Treasury
	kind := meta[MetaTxKind]
	acts := r.treasuryActs(i)
	start := len(r.entries)
	for i, inst := range cs.order {
		en := r.newEntry(e.NodeID, KindOther, inst, cs.byOrder[i])
		en.Choice, en.TxKind, en.Meta, en.Reason = e.Choice, kind, meta, meta[MetaReason]
		switch kind {
		case TxKindTransfer:
			sender := meta[MetaSender]
			// Who got a holding of this instrument: the treasury's loss of
			// an instrument no one else got while someone got another is a
			// fee paid in a second instrument, not a second payment.
			got := cs.otherOf(inst)
			done, err := r.closedByTransfer(&en, cs, meta, got, e.NodeID)
			if err != nil {
				return err
			}
			if done {
				break
			}
			if en.Amount.IsNegative() && (sender == T || sender == "") && got == "" && len(cs.others) > 0 {
				en.Sender = sender
				break
			}
			if sender == "" && en.Amount.IsNegative() && got != "" {
				// No sender named, the treasury's funds left and another
				// party got a holding: the treasury sent them. With no one
				// else's holding it is the treasury's own merge or split,
				// whose loss is the fee.
				sender = T
			}
			if sender == T && !acts && len(en.Archived) > 0 {
				// The treasury's holdings left in an operation it did not
				// act in, closing no instruction of its own: it sent
				// nothing, whatever the metadata (its writer's word) says.
				// A holding its instrument's admin alone signed is the
				// admin's to archive: the loss is no withdrawal.
				break
			}
			var burned decimal.Decimal
			if sender == T && en.Amount.IsNegative() {
				// Read only where it is used: the merged metadata may
				// hold a sender's free text, and a deposit must not stop
				// on a malformed burned amount it does not need.
				if burned, err = r.burned(e.NodeID, meta); err != nil {
					return err
				}
			}
			switch {
			case sender == T && en.Amount.IsNegative() && got == "" && !en.Amount.Neg().GreaterThan(burned):
				// Nothing but the burned fee left the treasury, and no one
				// else got a holding: a transfer to itself.
				r.completed(&en, T, T, decimal.Decimal{}, "")
			case sender == T && en.Amount.IsNegative():
				sent := en.Amount.Neg().Sub(burned)
				if g := cs.otherAmount(got, inst); got != "" && g.GreaterThan(sent) && cs.othersOf(inst) == 1 {
					// got received more than the treasury's loss less the
					// burned amount: the inputs held value that is not a
					// holding (reward coupons). It was sent what it got.
					// Not when another party got a holding of inst too
					// (the change of someone who paid got beside the
					// treasury): part of what got received is theirs.
					sent = g
				}
				r.completed(&en, T, got, sent, got)
			case sender != T && en.Amount.IsPositive():
				r.completed(&en, sender, T, en.Amount, "")
			case en.Amount.IsPositive() && len(en.Archived) == 0:
				// The treasury gained and spent none of its holdings,
				// though the metadata names it as sender (the merged
				// metadata includes a depositor's transfer.meta): it sent
				// nothing, so this is a deposit from a sender not named.
				// One that spent its holdings did send (its reason is a
				// withdrawal id, not an account) and gained beside it, as
				// a transfer with the sender's reward coupons among its
				// inputs does: not a deposit.
				r.completed(&en, "", T, en.Amount, "")
			case sender == T && en.Amount.IsPositive() && got != "":
				// The treasury spent its holdings, another party got one,
				// and the treasury gained beside it (minted rewards among
				// the transfer's inputs): it sent got what got received;
				// its gain is a negative fee.
				r.completed(&en, T, got, cs.otherAmount(got, inst), got)
			case sender != T && sender != "" && en.Amount.IsNegative():
				// The treasury lost funds in a transfer whose metadata
				// names another party as its sender (a registry's
				// settlement of a trade): no transfer to itself, and its
				// loss no fee. Recorded, never credited.
				en.Sender = sender
			default:
				r.completed(&en, T, T, decimal.Decimal{}, "")
			}
		case TxKindMergeSplit:
			en.Kind, en.Fee = KindMergeSplit, en.Amount.Neg()
		case TxKindBurn, TxKindExpireDust:
			en.Kind, en.Fee = KindFee, en.Amount.Neg()
		case TxKindMint:
			en.Kind = KindMint
		case TxKindUnlock:
			en.Kind, en.Fee = KindUnlock, en.Amount.Neg()
		}
		r.entries = append(r.entries, en)
	}
	keepMetaOnce(r.entries[start:])
	cs.order, cs.byOrder, cs.index = nil, nil, nil
	r.finish(nil, cs)
	return nil
}

// keepMetaOnce leaves the metadata of an operation with an entry per
// instrument (all at its node) on one of them: the first withdrawal (the
// treasury's own operation, whose metadata it wrote), else the first
// entry that is not `other`, else the first. A copy on each would be
// written once per instrument the operation changed, as many as its
// author cares to make.
func keepMetaOnce(es []Entry) {
	if len(es) < 2 {
		return
	}
	keep, rank := 0, 0
	for i := range es {
		r := 0
		switch es[i].Kind {
		case KindWithdrawal:
			r = 2
		case KindOther:
		default:
			r = 1
		}
		if r > rank {
			keep, rank = i, r
		}
	}
	for i := range es {
		if i != keep {
			es[i].Meta = nil
		}
	}
}

// closedByTransfer finds, among the known instructions closed inside a
// tx-kind transfer (a registry's choice on its own contract that archives
// the instruction and moves the funds), one of en's instrument whose
// transfer the treasury's change en.Amount is, as movedAsTransfer says: the
// choice did that transfer. en becomes its deposit or withdrawal, with the
// instruction's reason, and the instruction is no longer a leftover (it
// would be recorded as failed, its withdrawal refunded).
//
// A registry's choice may close several instructions, some done and some
// returned to their senders, and move other funds beside them: an incoming
// instruction is taken only when the treasury gained exactly its amount
// (a gain of another size is not its transfer, and taking it would credit
// its account with someone else's funds), not when the sender got a
// holding of it below the choice that closed it and the treasury did not
// gain the amount there (the funds went back, the gain is another's), and,
// of several such from different senders or for different reasons, only
// the one inside whose own choice the treasury gained it; an outgoing one
// when its receiver got a holding of the instrument (when the choice that
// closed it has sub-events: below it, or beside every such choice, not
// below another's), the first such one, or else
// when it is the only outgoing candidate (the receiver's holding may be
// out of the treasury's view).
//
// Candidates that cannot be told apart are a ParseError at node, for a
// person to review, rather than a guess that may credit the wrong account
// or pay twice: one entry per instrument records one of them done, and the
// others would be recorded as failed (their withdrawals refunded) though
// they may have been paid. For incoming ones that is when none, or
// several, gained their amount inside their own choice; for outgoing ones
// when several receivers got a holding, when none did and there are
// several candidates, and when one did but the treasury's loss would also
// pay another candidate.
func (r *run) closedByTransfer(en *Entry, cs *changes, meta Metadata, otherOwner string, node int32) (bool, error) {
	T := r.c.Treasury
	j := -1
	if en.Amount.IsPositive() {
		var cands []int // the incoming instructions of the amount gained
		for k, cl := range cs.closed {
			t := cl.instr.Transfer
			if t.Instrument != en.Instrument || t.Receiver != T || t.Sender == T || !t.Amount.Equal(en.Amount) {
				continue
			}
			// A choice on the instruction that returned the funds to the
			// sender below it, the treasury not gaining the amount there,
			// did not do the transfer: a gain beside it is another's.
			if cs.gotWithin(t.Sender, t.Instrument, cl) && !gainWithin(en, cl).Equal(t.Amount) {
				continue
			}
			cands = append(cands, k)
		}
		if len(cands) > 0 {
			j = cands[0]
		}
		if len(cands) > 1 && !sameDepositor(cs, cands) {
			// Several offers of the amount from different depositors: the
			// one inside whose choice the treasury gained it was done.
			j = -1
			for _, k := range cands {
				if gainWithin(en, cs.closed[k]).Equal(en.Amount) {
					if j >= 0 {
						j = -1
						break
					}
					j = k
				}
			}
			if j < 0 {
				return false, r.fail(node, "a transfer choice closed %d of the treasury's incoming transfer instructions of %s/%s for %s each, from different senders or reasons, and the treasury gained that amount; which of them was done cannot be told",
					len(cands), en.Instrument.Admin, en.Instrument.ID, en.Amount)
			}
		}
	} else {
		var cands []int // the outgoing candidates
		paid := 0       // how many of them had their receiver get a holding
		for k, cl := range cs.closed {
			t := cl.instr.Transfer
			if t.Instrument != en.Instrument || t.Sender != T || !movedAsTransfer(en, t, T) {
				continue
			}
			cands = append(cands, k)
			// Paid: its receiver got a holding below the choice that
			// closed it or beside every such choice (the funds moved by
			// a transfer of their own, the choice on the instruction
			// perhaps only unlocking them), not below the choice on
			// another instruction; when that choice has no sub-events,
			// anywhere in the operation.
			got := cs.hasOther(t.Receiver, t.Instrument)
			if cl.last > cl.node {
				got = cs.gotWithin(t.Receiver, t.Instrument, cl) || cs.gotBeside(t.Receiver, t.Instrument)
			}
			if got {
				if paid++; paid == 1 {
					j = k
				}
			}
		}
		ambiguous := paid > 1 || (paid == 0 && len(cands) > 1)
		if paid == 1 {
			// Would the loss pay another candidate beside the one seen?
			loss := en.Amount.Neg().Sub(cs.closed[j].instr.Transfer.Amount)
			for _, k := range cands {
				if k != j && !loss.LessThan(cs.closed[k].instr.Transfer.Amount) {
					ambiguous = true
				}
			}
		}
		if ambiguous {
			return false, r.fail(node, "a transfer choice closed %d of the treasury's transfer instructions of %s/%s and took %s from it; which of them were done cannot be told (receivers seen to get a holding: %d)",
				len(cands), en.Instrument.Admin, en.Instrument.ID, en.Amount.Neg(), paid)
		}
		if j < 0 && len(cands) == 1 {
			// The receiver's holding may be out of the treasury's view.
			j = cands[0]
		}
	}
	if j < 0 {
		return false, nil
	}
	cl := cs.closed[j]
	t := cl.instr.Transfer
	r.fillInstruction(en, cl.instr)
	if en.Reason == "" && t.Sender != T {
		// Not for the treasury's instruction: the reason of its transfer
		// is a withdrawal id, and meta is the free text of whoever
		// exercised the choice around it, its receiver perhaps.
		en.Reason = meta[MetaReason]
	}
	r.completed(en, t.Sender, t.Receiver, t.Amount, otherOwner)
	cs.closed = slices.Delete(cs.closed, j, j+1)
	return true, nil
}

// sameDepositor reports whether the closed instructions at ks are all from
// one sender for one reason: crediting any of them credits the same.
func sameDepositor(cs *changes, ks []int) bool {
	first := cs.closed[ks[0]].instr
	for _, k := range ks[1:] {
		in := cs.closed[k].instr
		if in.Transfer.Sender != first.Transfer.Sender || instructionReason(in) != instructionReason(first) {
			return false
		}
	}
	return true
}

// instructionReason is the reason an instruction's outcome carries.
func instructionReason(in Instruction) string {
	if r := in.Transfer.Meta[MetaReason]; r != "" {
		return r
	}
	return in.Reason
}

func (r *run) looseCreate(e *ledger.CreatedEvent, root int32) error {
	h, in, err := r.create(e, nil)
	if err != nil {
		return err
	}
	if h != nil {
		c := r.looseChange(root, h.Instrument)
		c.created = append(c.created, *h)
	}
	if in != nil {
		en := r.newEntry(e.NodeID, KindOther, in.Transfer.Instrument, nil)
		en.Meta = in.Transfer.Meta.Merge(in.Meta)
		en.Reason = in.Transfer.Meta[MetaReason]
		r.offer(&en, *in)
		r.entries = append(r.entries, en)
	}
	return nil
}

func (r *run) looseConsume(cid string, node, root int32) error {
	in, known, err := r.instruction(cid, node)
	if err != nil {
		return err
	}
	h, treasury, err := r.consume(cid, node)
	if err != nil {
		return err
	}
	if treasury {
		c := r.looseChange(root, h.Instrument)
		c.archived = append(c.archived, h)
	}
	if known {
		en := r.newEntry(node, r.endedKind(in), in.Transfer.Instrument, nil)
		r.fillInstruction(&en, in)
		r.entries = append(r.entries, en)
	}
	return nil
}

func (r *run) looseChange(root int32, inst Instrument) *change {
	k := looseKey{root: root, inst: inst}
	c, ok := r.loose[k]
	if !ok {
		c = &change{}
		put(&r.loose, k, c)
		r.looseOrder = append(r.looseOrder, k)
	}
	return c
}

// flushLoose classifies the treasury holding changes found outside any
// operation, one entry per outermost exercise and instrument.
func (r *run) flushLoose() {
	for _, k := range r.looseOrder {
		c := r.loose[k]
		en := r.newEntry(k.root, KindOther, k.inst, c)
		var locked decimal.Decimal
		for _, h := range c.created {
			if h.Lock != nil {
				locked = locked.Add(h.Amount)
			}
		}
		for _, h := range c.archived {
			if h.Lock != nil {
				locked = locked.Sub(h.Amount)
			}
		}
		outflowOnly := !en.Amount.IsPositive()
		switch {
		case outflowOnly && locked.IsPositive():
			en.Kind = KindLock
		case outflowOnly && locked.IsNegative():
			en.Kind = KindUnlock
		case outflowOnly && len(c.created) > 0 && len(c.archived) > 0:
			en.Kind = KindMergeSplit
		}
		if en.Kind != KindOther {
			en.Fee = en.Amount.Neg()
		}
		r.entries = append(r.entries, en)
	}
}
