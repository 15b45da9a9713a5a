package ledgertest

// Token standard transaction builders: scripted histories of holdings,
// transfers and transfer instructions, shaped like the transactions a Splice
// token registry produces on a LEDGER_EFFECTS, verbose stream with the token
// standard interface views.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/shopspring/decimal"
)

// Token standard metadata keys and tx-kind values the builders write.
const (
	tokenMetaTxKind = "splice.lfdecentralizedtrust.org/tx-kind"
	tokenMetaSender = "splice.lfdecentralizedtrust.org/sender"
	tokenMetaReason = "splice.lfdecentralizedtrust.org/reason"
	tokenMetaBurned = "splice.lfdecentralizedtrust.org/burned"
)

// Defaults of TokenWorld's fields.
const (
	// TokenDefaultAdmin is the instrument admin (the registry party) of a
	// TokenWorld that names none.
	TokenDefaultAdmin = "DSO::1220d50"
	// TokenDefaultInstrumentID is the id of a TokenWorld's default
	// instrument.
	TokenDefaultInstrumentID = "Amulet"
	// TokenDefaultStep is how far a TokenWorld's clock moves per transaction.
	TokenDefaultStep = time.Second
	// TokenDefaultExpiry is the time between a transfer's requestedAt and
	// its executeBefore.
	TokenDefaultExpiry = 24 * time.Hour
)

func tokenPackageID(name string) string {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	registerPackageName(id, name)
	return id
}

// Package ids of the token standard interface packages as the builders
// write them (the stream names packages by id; these are stand-ins).
var (
	tokenHoldingPkg     = tokenPackageID("splice-api-token-holding-v1")
	tokenMetadataPkg    = tokenPackageID("splice-api-token-metadata-v1")
	tokenInstructionPkg = tokenPackageID("splice-api-token-transfer-instruction-v1")
	tokenStdlibPkg      = tokenPackageID("daml-stdlib")
)

func tokenID(pkg, module, entity string) ledger.Identifier {
	return ledger.Identifier{PackageID: pkg, ModuleName: module, EntityName: entity}
}

// The token standard interfaces, with package ids as a participant sends them.
var (
	TokenHoldingInterface             = tokenID(tokenHoldingPkg, "Splice.Api.Token.HoldingV1", "Holding")
	TokenTransferInstructionInterface = tokenID(tokenInstructionPkg, "Splice.Api.Token.TransferInstructionV1", "TransferInstruction")
	TokenTransferFactoryInterface     = tokenID(tokenInstructionPkg, "Splice.Api.Token.TransferInstructionV1", "TransferFactory")
)

// Record types of the interface packages.
var (
	tokenMetadataType    = tokenID(tokenMetadataPkg, "Splice.Api.Token.MetadataV1", "Metadata")
	tokenExtraArgsType   = tokenID(tokenMetadataPkg, "Splice.Api.Token.MetadataV1", "ExtraArgs")
	tokenContextType     = tokenID(tokenMetadataPkg, "Splice.Api.Token.MetadataV1", "ChoiceContext")
	tokenInstrumentType  = tokenID(tokenHoldingPkg, "Splice.Api.Token.HoldingV1", "InstrumentId")
	tokenLockType        = tokenID(tokenHoldingPkg, "Splice.Api.Token.HoldingV1", "Lock")
	tokenHoldingViewType = tokenID(tokenHoldingPkg, "Splice.Api.Token.HoldingV1", "HoldingView")
	tokenTransferType    = tokenID(tokenInstructionPkg, "Splice.Api.Token.TransferInstructionV1", "Transfer")
	tokenInstrViewType   = tokenID(tokenInstructionPkg, "Splice.Api.Token.TransferInstructionV1", "TransferInstructionView")
	tokenStatusType      = tokenID(tokenInstructionPkg, "Splice.Api.Token.TransferInstructionV1", "TransferInstructionStatus")
	tokenResultType      = tokenID(tokenInstructionPkg, "Splice.Api.Token.TransferInstructionV1", "TransferInstructionResult")
	tokenOutputType      = tokenID(tokenInstructionPkg, "Splice.Api.Token.TransferInstructionV1", "TransferInstructionResult_Output")
	tokenPendingType     = tokenID(tokenInstructionPkg, "Splice.Api.Token.TransferInstructionV1", "TransferInstructionResult_Output.TransferInstructionResult_Pending")
	tokenCompletedType   = tokenID(tokenInstructionPkg, "Splice.Api.Token.TransferInstructionV1", "TransferInstructionResult_Output.TransferInstructionResult_Completed")
	tokenFactoryArgType  = tokenID(tokenInstructionPkg, "Splice.Api.Token.TransferInstructionV1", "TransferFactory_Transfer")
)

// tokenImpl is one registry implementation: the templates and choices it
// uses. The default instrument ("Amulet") uses Amulet-like templates, any
// other a generic registry's.
type tokenImpl struct {
	pkgName, pkg                                              string
	holding, locked, rules, factory, instruction, preapproval ledger.Identifier
	transfer, mint, burn, mergeSplit, lock, unlock, expire    string
}

var (
	tokenAmuletPkg   = tokenPackageID("splice-amulet")
	tokenRegistryPkg = tokenPackageID("token-registry")
	tokenWalletPkg   = tokenPackageID("splice-wallet")
)

var tokenAmulet = tokenImpl{
	pkgName:     "splice-amulet",
	pkg:         tokenAmuletPkg,
	holding:     tokenID(tokenAmuletPkg, "Splice.Amulet", "Amulet"),
	locked:      tokenID(tokenAmuletPkg, "Splice.Amulet", "LockedAmulet"),
	rules:       tokenID(tokenAmuletPkg, "Splice.AmuletRules", "AmuletRules"),
	factory:     tokenID(tokenAmuletPkg, "Splice.ExternalPartyAmuletRules", "ExternalPartyAmuletRules"),
	instruction: tokenID(tokenAmuletPkg, "Splice.AmuletTransferInstruction", "AmuletTransferInstruction"),
	preapproval: tokenID(tokenAmuletPkg, "Splice.AmuletRules", "TransferPreapproval"),
	transfer:    "AmuletRules_Transfer",
	mint:        "AmuletRules_Mint",
	burn:        "AmuletRules_Burn",
	mergeSplit:  "AmuletRules_MergeSplit",
	lock:        "AmuletRules_Lock",
	unlock:      "LockedAmulet_Unlock",
	expire:      "AmuletTransferInstruction_Expire",
}

var tokenRegistry = tokenImpl{
	pkgName:     "token-registry",
	pkg:         tokenRegistryPkg,
	holding:     tokenID(tokenRegistryPkg, "Registry.Holding", "Holding"),
	locked:      tokenID(tokenRegistryPkg, "Registry.Holding", "LockedHolding"),
	rules:       tokenID(tokenRegistryPkg, "Registry.Rules", "InstrumentRules"),
	factory:     tokenID(tokenRegistryPkg, "Registry.Transfer", "TransferFactory"),
	instruction: tokenID(tokenRegistryPkg, "Registry.Transfer", "TransferOffer"),
	preapproval: tokenID(tokenRegistryPkg, "Registry.Transfer", "TransferPreapproval"),
	transfer:    "InstrumentRules_Transfer",
	mint:        "InstrumentRules_Mint",
	burn:        "InstrumentRules_Burn",
	mergeSplit:  "InstrumentRules_MergeSplit",
	lock:        "InstrumentRules_Lock",
	unlock:      "LockedHolding_Unlock",
	expire:      "TransferOffer_Expire",
}

var tokenWalletTemplate = tokenID(tokenWalletPkg, "Splice.Wallet.Install", "WalletAppInstall")

// TokenInstrument identifies a token: its admin (registry) party and id.
type TokenInstrument struct {
	Admin string
	ID    string
}

// String renders the instrument as "id@admin".
func (i TokenInstrument) String() string { return i.ID + "@" + i.Admin }

// HoldingLock is a lock on a holding.
type HoldingLock struct {
	// Holders must agree to unlock; the builders make them stakeholders.
	Holders []string
	// ExpiresAt is the lock's expiry; zero for none.
	ExpiresAt time.Time
	// Context says why the funds are locked; empty for none.
	Context string
}

// TokenHolding is a holding contract a TokenWorld created.
type TokenHolding struct {
	ContractID string
	Owner      string
	Instrument TokenInstrument
	Amount     decimal.Decimal
	Lock       *HoldingLock
	// Meta is the holding view's metadata.
	Meta map[string]string
	// Archived is set once a transaction consumed the holding.
	Archived bool
}

// TransferOffer is a transfer instruction a TokenWorld created (a
// multi-step transfer waiting for the receiver).
type TransferOffer struct {
	ContractID    string
	Sender        string
	Receiver      string
	Instrument    TokenInstrument
	Amount        decimal.Decimal
	Fee           decimal.Decimal
	Reason        string
	Meta          map[string]string // the transfer's metadata
	RequestedAt   time.Time
	ExecuteBefore time.Time
	// Locked is the sender's locked holding (Amount + Fee) backing the offer.
	Locked string
	// Open is true until the offer is accepted, rejected, withdrawn or expired.
	Open bool
}

// TransferSpec describes a transfer for TokenWorld.Transfer and Offer.
type TransferSpec struct {
	Sender   string
	Receiver string
	// Amount is a decimal such as "12.5".
	Amount string
	// Instrument defaults to the world's default instrument.
	Instrument TokenInstrument
	// InputHoldings are the sender's holdings to spend. Empty means the
	// sender's oldest unlocked holdings of the instrument, as many as
	// needed for Amount + Fee.
	InputHoldings []string
	// Reason is written as the transfer's reason metadata; empty writes
	// none.
	Reason string
	// Meta adds entries to the transfer's metadata.
	Meta map[string]string
	// ExtraMeta is the metadata of the choice's extra arguments.
	ExtraMeta map[string]string
	// Fee is burned from the sender's inputs and reported as burned
	// metadata; empty is zero. For an Offer it is locked with Amount and
	// burned by the Accept (in its result's metadata), not by the offer:
	// the offer burns nothing, and a Reject, Withdraw or Expire returns it.
	Fee string
}

// TokenWrap describes an exercise that wraps other operations, as a wallet
// or an automation does when it executes several steps in one command.
type TokenWrap struct {
	// Actor exercises the wrapping choice.
	Actor string
	// Provider is the wallet contract's other signatory; empty uses the
	// world's admin.
	Provider string
	// Choice defaults to "WalletAppInstall_ExecuteBatch".
	Choice string
}

// TokenOp is one operation of a transaction under construction: a subtree
// of events. The builders apply its effects to the world when they make
// it; TokenWorld.Tx puts operations into one transaction. An operation goes
// into one transaction (or one WrapOp), once: Tx and WrapOp panic on an
// operation already used, as its events cannot happen twice.
type TokenOp struct {
	// Created and Archived are the holdings the operation created and
	// archived.
	Created  []TokenHolding
	Archived []TokenHolding
	// InstructionCID is the transfer instruction the operation created or
	// consumed, if any.
	InstructionCID string

	root    *tokenNode
	minTime time.Time // the transaction's record time must be at least this
}

// tokenNode is an event with the parties informed of it and its children.
type tokenNode struct {
	ev        ledger.Event
	informees []string
	children  []*tokenNode
	// placed is set once the node is a root of a transaction or a child of
	// a wrapper: an operation's events happen once.
	placed bool
}

// place marks an operation's root as put into a transaction (by Tx or
// WrapOp, named by who), panicking if it already was.
func (op TokenOp) place(who string) {
	if op.root == nil {
		panic("ledgertest: " + who + ": an operation not made by a TokenWorld builder")
	}
	if op.root.placed {
		panic("ledgertest: " + who + ": the operation is already in a transaction: build a new one")
	}
	op.root.placed = true
}

// TokenWorld scripts a consistent token standard history: it tracks every
// holding and transfer instruction it creates, so that transfers spend
// holdings that exist, change is computed exactly, and consumed holdings
// cannot be spent again. Builders panic on a script that could not happen
// on a ledger (spending more than a party owns, accepting an offer twice):
// that is a bug in the test, not a condition to handle.
//
// The zero value is ready to use, with the defaults of the fields below.
// A TokenWorld is not safe for concurrent use.
//
//	w := &ledgertest.TokenWorld{Sequence: true}
//	w.Mint("alice::1", "100")
//	deposit := w.Transfer(ledgertest.TransferSpec{Sender: "alice::1", Receiver: treasury, Amount: "40", Reason: "acct-7"})
type TokenWorld struct {
	// Admin is the default instrument's admin; TokenDefaultAdmin if empty.
	Admin string
	// InstrumentID is the default instrument's id; TokenDefaultInstrumentID
	// if empty.
	InstrumentID string
	// Start is the world clock's start, DefaultStartTime if zero. The
	// clock stamps requestedAt, executeBefore and creation times, and,
	// with Sequence, record times; it moves by Step per transaction.
	Start time.Time
	// Step is TokenDefaultStep if zero.
	Step time.Duration
	// Expiry is executeBefore − requestedAt of transfers; TokenDefaultExpiry
	// if zero.
	Expiry time.Duration
	// Sequence makes the builders stamp each transaction with the next
	// offset (1, 2, ...), update id ("upd-1", ...), the world clock as
	// record time and SynchronizerID. Without it these are left zero for
	// the fake Participant to assign; only Expire then sets a record time
	// (past the instruction's deadline).
	Sequence bool
	// SynchronizerID is used with Sequence; DefaultSynchronizer if empty.
	SynchronizerID string
	// CantonIDs makes contract ids as long as a Canton participant's
	// (about 140 hex digits) instead of "00holding0001".
	CantonIDs bool

	ready    bool
	clock    time.Time
	cids     int
	txs      int
	holdings map[string]*TokenHolding
	live     map[string][]string // live holding cids per owner, in creation order
	offers   map[string]*TransferOffer
}

func (w *TokenWorld) init() {
	if w.ready {
		return
	}
	w.ready = true
	if w.Admin == "" {
		w.Admin = TokenDefaultAdmin
	}
	if w.InstrumentID == "" {
		w.InstrumentID = TokenDefaultInstrumentID
	}
	if w.Start.IsZero() {
		w.Start = DefaultStartTime
	}
	if w.Step == 0 {
		w.Step = TokenDefaultStep
	}
	if w.Expiry == 0 {
		w.Expiry = TokenDefaultExpiry
	}
	if w.SynchronizerID == "" {
		w.SynchronizerID = DefaultSynchronizer
	}
	w.clock = w.Start.UTC().Truncate(time.Microsecond)
	w.holdings = map[string]*TokenHolding{}
	w.live = map[string][]string{}
	w.offers = map[string]*TransferOffer{}
}

// Instrument returns the instrument with the given id administered by the
// world's admin; with no id, the default instrument.
func (w *TokenWorld) Instrument(id ...string) TokenInstrument {
	w.init()
	if len(id) == 0 || id[0] == "" {
		return TokenInstrument{Admin: w.Admin, ID: w.InstrumentID}
	}
	return TokenInstrument{Admin: w.Admin, ID: id[0]}
}

// Now returns the world clock: the time the next transaction is built at.
func (w *TokenWorld) Now() time.Time {
	w.init()
	return w.clock
}

// Advance moves the world clock forward by d.
func (w *TokenWorld) Advance(d time.Duration) {
	w.init()
	w.clock = w.clock.Add(d)
}

// Holding returns the holding with the given contract id, live or archived.
func (w *TokenWorld) Holding(cid string) (TokenHolding, bool) {
	w.init()
	h, ok := w.holdings[cid]
	if !ok {
		return TokenHolding{}, false
	}
	return *h, true
}

// Holdings returns owner's live holdings in creation order; with
// instruments given, only those of these instruments.
func (w *TokenWorld) Holdings(owner string, inst ...TokenInstrument) []TokenHolding {
	w.init()
	var out []TokenHolding
	for _, cid := range w.live[owner] {
		h := w.holdings[cid]
		if len(inst) > 0 && !slices.Contains(inst, h.Instrument) {
			continue
		}
		out = append(out, *h)
	}
	return out
}

// Balance returns the sum of owner's live holdings of inst, locked ones
// included.
func (w *TokenWorld) Balance(owner string, inst TokenInstrument) decimal.Decimal {
	var sum decimal.Decimal
	for _, h := range w.Holdings(owner, inst) {
		sum = sum.Add(h.Amount)
	}
	return sum
}

// Balances returns owner's balance per instrument (live holdings, locked
// ones included).
func (w *TokenWorld) Balances(owner string) map[TokenInstrument]decimal.Decimal {
	out := map[TokenInstrument]decimal.Decimal{}
	for _, h := range w.Holdings(owner) {
		out[h.Instrument] = out[h.Instrument].Add(h.Amount)
	}
	return out
}

// TransferOffer returns the transfer instruction with the given contract id.
func (w *TokenWorld) TransferOffer(cid string) (TransferOffer, bool) {
	w.init()
	o, ok := w.offers[cid]
	if !ok {
		return TransferOffer{}, false
	}
	return *o, true
}

// OpenOffers returns the transfer instructions still open, by contract id.
func (w *TokenWorld) OpenOffers() []TransferOffer {
	w.init()
	var out []TransferOffer
	for _, cid := range slices.Sorted(maps.Keys(w.offers)) {
		if o := w.offers[cid]; o.Open {
			out = append(out, *o)
		}
	}
	return out
}

// Tx builds one transaction from the operations, in order, as the roots of
// its event forest. Node ids are assigned in pre-order from 0; each event's
// witness parties are the parties informed of it or of one of its
// ancestors.
func (w *TokenWorld) Tx(ops ...TokenOp) *ledger.Transaction {
	w.init()
	tx := &ledger.Transaction{}
	var minTime time.Time
	var roots []*tokenNode
	for _, op := range ops {
		op.place("Tx")
		roots = append(roots, op.root)
		if op.minTime.After(minTime) {
			minTime = op.minTime
		}
	}
	var next int32
	var walk func(n *tokenNode, inherited []string)
	walk = func(n *tokenNode, inherited []string) {
		witnesses := tokenParties(inherited, n.informees)
		id := next
		next++
		for _, c := range n.children {
			walk(c, witnesses)
		}
		switch e := n.ev.(type) {
		case *ledger.CreatedEvent:
			c := *e
			c.NodeID, c.WitnessParties = id, witnesses
			tx.Events = append(tx.Events, &c)
		case *ledger.ExercisedEvent:
			x := *e
			x.NodeID, x.LastDescendantNodeID, x.WitnessParties = id, next-1, witnesses
			tx.Events = append(tx.Events, &x)
		}
	}
	for _, r := range roots {
		walk(r, nil)
	}
	slices.SortFunc(tx.Events, func(a, b ledger.Event) int { return int(a.Node()) - int(b.Node()) })
	tokenMarkACSDelta(tx)

	if minTime.After(w.clock) {
		w.clock = minTime
	}
	w.txs++
	if w.Sequence {
		tx.Offset = int64(w.txs)
		tx.UpdateID = fmt.Sprintf("upd-%d", w.txs)
		tx.CommandID = fmt.Sprintf("cmd-%d", w.txs)
		tx.SynchronizerID = w.SynchronizerID
		tx.RecordTime = w.clock
		tx.EffectiveAt = w.clock
	} else if !minTime.IsZero() {
		tx.RecordTime = w.clock
	}
	w.clock = w.clock.Add(w.Step)
	return tx
}

// tokenMarkACSDelta sets ACSDelta on the events that change the active
// contract set: creates of contracts that survive the transaction and
// consuming exercises of contracts that existed before it.
func tokenMarkACSDelta(tx *ledger.Transaction) {
	created, consumed := map[string]bool{}, map[string]bool{}
	for _, ev := range tx.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			created[e.ContractID] = true
		case *ledger.ExercisedEvent:
			if e.Consuming {
				consumed[e.ContractID] = true
			}
		}
	}
	for _, ev := range tx.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			e.ACSDelta = !consumed[e.ContractID]
		case *ledger.ExercisedEvent:
			e.ACSDelta = e.Consuming && !created[e.ContractID]
		}
	}
}

// tokenParties returns the sorted union of party lists, without duplicates
// or empty names.
func tokenParties(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, p := range l {
			if p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TokenProjection returns tx as a participant hosting the given parties
// delivers it: only the events one of them witnesses, with witness parties
// narrowed to them, node ids unchanged. It returns nil when they witness
// nothing. The fake Participant applies the same rule to party filters.
//
// A created event's acs_delta stays set only if one of the parties left
// is a stakeholder of the contract (a signatory or observer), as a
// participant sets it: the receiver's new holding is no change to the
// sender's active contract set. A consuming exercise keeps its acs_delta:
// the stakeholders of the contract it consumes are in the transaction
// that created it, not in tx, where the fake Participant, which has that
// transaction, clears it for parties that are no stakeholders.
func TokenProjection(tx *ledger.Transaction, parties ...string) *ledger.Transaction {
	out := *tx
	out.Events = nil
	keep := func(ws []string) []string {
		var k []string
		for _, p := range ws {
			if slices.Contains(parties, p) {
				k = append(k, p)
			}
		}
		return k
	}
	for _, ev := range tx.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			if ws := keep(e.WitnessParties); len(ws) > 0 {
				c := *e
				c.WitnessParties = ws
				if c.ACSDelta && len(c.Signatories) > 0 {
					c.ACSDelta = len(onlyStakeholders(ws, slices.Concat(c.Signatories, c.Observers))) > 0
				}
				out.Events = append(out.Events, &c)
			}
		case *ledger.ExercisedEvent:
			if ws := keep(e.WitnessParties); len(ws) > 0 {
				x := *e
				x.WitnessParties = ws
				out.Events = append(out.Events, &x)
			}
		case *ledger.ArchivedEvent:
			if ws := keep(e.WitnessParties); len(ws) > 0 {
				a := *e
				a.WitnessParties = ws
				out.Events = append(out.Events, &a)
			}
		}
	}
	if len(out.Events) == 0 {
		return nil
	}
	return &out
}

// Values.

func tokenDecimal(what, s string) decimal.Decimal {
	if s == "" {
		return decimal.Decimal{}
	}
	d, err := ledger.ParseDecimal(s)
	if err != nil {
		panic(fmt.Sprintf("ledgertest: %s: %v", what, err))
	}
	if d.IsNegative() {
		panic(fmt.Sprintf("ledgertest: %s: negative amount %s", what, s))
	}
	return d
}

// tokenNumeric renders d as a Daml Decimal (Numeric 10) on the wire.
func tokenNumeric(d decimal.Decimal) ledger.Value { return ledger.Numeric(d.StringFixed(10)) }

func tokenMetaValue(m map[string]string) ledger.Value {
	if m == nil {
		m = map[string]string{}
	}
	return ledger.Record(&tokenMetadataType, ledger.F("values", ledger.TextMapOf(m)))
}

func tokenExtraArgs(meta map[string]string) ledger.Value {
	return ledger.Record(&tokenExtraArgsType,
		ledger.F("context", ledger.Record(&tokenContextType, ledger.F("values", ledger.TextMap()))),
		ledger.F("meta", tokenMetaValue(meta)))
}

func tokenInstrumentValue(i TokenInstrument) ledger.Value {
	return ledger.Record(&tokenInstrumentType, ledger.F("admin", ledger.Party(i.Admin)), ledger.F("id", ledger.Text(i.ID)))
}

func tokenPartyList(ps []string) ledger.Value {
	vs := make([]ledger.Value, len(ps))
	for i, p := range ps {
		vs[i] = ledger.Party(p)
	}
	return ledger.List(vs...)
}

func tokenCIDList(cids []string) ledger.Value {
	vs := make([]ledger.Value, len(cids))
	for i, c := range cids {
		vs[i] = ledger.ContractID(c)
	}
	return ledger.List(vs...)
}

func tokenLockValue(l *HoldingLock) ledger.Value {
	if l == nil {
		return ledger.None()
	}
	expires := ledger.None()
	if !l.ExpiresAt.IsZero() {
		expires = ledger.Some(ledger.Timestamp(l.ExpiresAt))
	}
	context := ledger.None()
	if l.Context != "" {
		context = ledger.Some(ledger.Text(l.Context))
	}
	return ledger.Some(ledger.Record(&tokenLockType,
		ledger.F("holders", tokenPartyList(l.Holders)),
		ledger.F("expiresAt", expires),
		ledger.F("expiresAfter", ledger.None()),
		ledger.F("context", context)))
}

func tokenHoldingView(h *TokenHolding) ledger.Value {
	return ledger.Record(&tokenHoldingViewType,
		ledger.F("owner", ledger.Party(h.Owner)),
		ledger.F("instrumentId", tokenInstrumentValue(h.Instrument)),
		ledger.F("amount", tokenNumeric(h.Amount)),
		ledger.F("lock", tokenLockValue(h.Lock)),
		ledger.F("meta", tokenMetaValue(h.Meta)))
}

func tokenTransferValue(o *TransferOffer, inputs []string) ledger.Value {
	return ledger.Record(&tokenTransferType,
		ledger.F("sender", ledger.Party(o.Sender)),
		ledger.F("receiver", ledger.Party(o.Receiver)),
		ledger.F("amount", tokenNumeric(o.Amount)),
		ledger.F("instrumentId", tokenInstrumentValue(o.Instrument)),
		ledger.F("requestedAt", ledger.Timestamp(o.RequestedAt)),
		ledger.F("executeBefore", ledger.Timestamp(o.ExecuteBefore)),
		ledger.F("inputHoldingCids", tokenCIDList(inputs)),
		ledger.F("meta", tokenMetaValue(o.Meta)))
}

func tokenResult(output ledger.Value, senderChange []string, meta map[string]string) ledger.Value {
	return ledger.Record(&tokenResultType,
		ledger.F("output", output),
		ledger.F("senderChangeCids", tokenCIDList(senderChange)),
		ledger.F("meta", tokenMetaValue(meta)))
}

func tokenCompleted(receiverCids []string) ledger.Value {
	return ledger.Variant(&tokenOutputType, "TransferInstructionResult_Completed",
		ledger.Record(&tokenCompletedType, ledger.F("receiverHoldingCids", tokenCIDList(receiverCids))))
}

func tokenPending(cid string) ledger.Value {
	return ledger.Variant(&tokenOutputType, "TransferInstructionResult_Pending",
		ledger.Record(&tokenPendingType, ledger.F("transferInstructionCid", ledger.ContractID(cid))))
}

func tokenFailed() ledger.Value {
	return ledger.Variant(&tokenOutputType, "TransferInstructionResult_Failed", ledger.Unit())
}

// Events.

func (w *TokenWorld) impl(inst TokenInstrument) tokenImpl {
	if inst.ID == TokenDefaultInstrumentID {
		return tokenAmulet
	}
	return tokenRegistry
}

func (w *TokenWorld) newCID(kind string) string {
	w.cids++
	return w.cid(kind, w.cids)
}

// cid is the contract id newCID gives the n-th contract of a kind.
func (w *TokenWorld) cid(kind string, n int) string {
	id := fmt.Sprintf("00%s%04d", kind, n)
	if w.CantonIDs {
		// A Canton contract id: 00, a 64-hex-digit discriminator, and a
		// suffix of about 70 more hex digits.
		return CantonID(id, id) + CantonID("ca11", id+"/suffix")
	}
	return id
}

// CantonID returns prefix followed by the 64 hex digits of the SHA-256 of
// seed: identifiers as long as a Canton participant's (update ids and
// party fingerprints are "1220" and 64 hex digits).
func CantonID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return prefix + hex.EncodeToString(sum[:])
}

// tokenSingletonCID names the one rules or factory contract of an implementation
// and admin.
func tokenSingletonCID(kind string, impl tokenImpl, admin string) string {
	sum := sha256.Sum256([]byte(impl.pkgName + "/" + admin))
	return "00" + kind + hex.EncodeToString(sum[:4])
}

func (w *TokenWorld) instrumentOr(inst TokenInstrument) TokenInstrument {
	if inst == (TokenInstrument{}) {
		return w.Instrument()
	}
	if inst.Admin == "" {
		inst.Admin = w.Admin
	}
	return inst
}

// createHolding adds a holding to the world and returns its create node.
func (w *TokenWorld) createHolding(owner string, inst TokenInstrument, amount decimal.Decimal, lock *HoldingLock, op *TokenOp) *tokenNode {
	impl := w.impl(inst)
	h := &TokenHolding{ContractID: w.newCID("holding"), Owner: owner, Instrument: inst, Amount: amount, Lock: lock}
	w.holdings[h.ContractID] = h
	w.live[owner] = append(w.live[owner], h.ContractID)
	op.Created = append(op.Created, *h)

	template := impl.holding
	signatories := []string{inst.Admin, owner}
	if lock != nil {
		template = impl.locked
		signatories = tokenParties(signatories, lock.Holders)
	}
	args := ledger.Record(&template,
		ledger.F("admin", ledger.Party(inst.Admin)),
		ledger.F("owner", ledger.Party(owner)),
		ledger.F("instrumentId", ledger.Text(inst.ID)),
		ledger.F("amount", tokenNumeric(amount)),
		ledger.F("lock", tokenLockValue(lock)))
	return &tokenNode{
		informees: signatories,
		ev: &ledger.CreatedEvent{
			ContractID:      h.ContractID,
			TemplateID:      template,
			PackageName:     impl.pkgName,
			CreateArguments: args,
			InterfaceViews: []ledger.InterfaceView{{
				InterfaceID: TokenHoldingInterface, Value: tokenHoldingView(h), ImplementationPackageID: impl.pkg,
			}},
			Signatories: tokenParties(signatories),
			CreatedAt:   w.clock,
		},
	}
}

// archive marks a holding archived and drops it from its owner's live list.
func (w *TokenWorld) archive(h *TokenHolding) {
	h.Archived = true
	w.live[h.Owner] = slices.DeleteFunc(w.live[h.Owner], func(cid string) bool { return cid == h.ContractID })
}

// archiveHolding consumes a live holding with the Archive choice.
func (w *TokenWorld) archiveHolding(cid string, op *TokenOp) *tokenNode {
	h := w.holdings[cid]
	w.archive(h)
	op.Archived = append(op.Archived, *h)
	impl := w.impl(h.Instrument)
	template, stakeholders := impl.holding, []string{h.Instrument.Admin, h.Owner}
	if h.Lock != nil {
		template, stakeholders = impl.locked, tokenParties(stakeholders, h.Lock.Holders)
	}
	return &tokenNode{
		informees: stakeholders,
		ev: &ledger.ExercisedEvent{
			ContractID:            cid,
			TemplateID:            template,
			Choice:                "Archive",
			ChoiceArgument:        ledger.Record(&ledger.Identifier{PackageID: tokenStdlibPkg, ModuleName: "DA.Internal.Template", EntityName: "Archive"}),
			ActingParties:         tokenParties([]string{h.Owner, h.Instrument.Admin}),
			Consuming:             true,
			ExerciseResult:        ledger.Unit(),
			PackageName:           impl.pkgName,
			ImplementedInterfaces: []ledger.Identifier{TokenHoldingInterface},
		},
	}
}

func (w *TokenWorld) exercise(impl tokenImpl, template ledger.Identifier, cid, choice string, actors, informees []string,
	arg, result ledger.Value, consuming bool, children ...*tokenNode) *tokenNode {
	return &tokenNode{
		informees: tokenParties(actors, informees),
		children:  children,
		ev: &ledger.ExercisedEvent{
			ContractID:     cid,
			TemplateID:     template,
			Choice:         choice,
			ChoiceArgument: arg,
			ActingParties:  tokenParties(actors),
			Consuming:      consuming,
			ExerciseResult: result,
			PackageName:    impl.pkgName,
		},
	}
}

// spend checks and archives the inputs of a transfer; with none given it
// picks owner's oldest unlocked holdings of inst covering need.
func (w *TokenWorld) spend(what, owner string, inst TokenInstrument, need decimal.Decimal, inputs []string, op *TokenOp) ([]string, decimal.Decimal, []*tokenNode) {
	var total decimal.Decimal
	if len(inputs) == 0 {
		for _, cid := range w.live[owner] {
			h := w.holdings[cid]
			if total.GreaterThanOrEqual(need) && len(inputs) > 0 {
				break
			}
			if h.Instrument == inst && h.Lock == nil {
				inputs = append(inputs, cid)
				total = total.Add(h.Amount)
			}
		}
		if total.LessThan(need) || len(inputs) == 0 {
			panic(fmt.Sprintf("ledgertest: %s: %s has %s of %s unlocked, needs %s", what, owner, total, inst, need))
		}
	} else {
		for _, cid := range inputs {
			h, ok := w.holdings[cid]
			switch {
			case !ok:
				panic(fmt.Sprintf("ledgertest: %s: no holding %s", what, cid))
			case h.Archived:
				panic(fmt.Sprintf("ledgertest: %s: holding %s is archived", what, cid))
			case h.Owner != owner || h.Instrument != inst:
				panic(fmt.Sprintf("ledgertest: %s: holding %s is %s's %s, not %s's %s", what, cid, h.Owner, h.Instrument, owner, inst))
			case h.Lock != nil:
				panic(fmt.Sprintf("ledgertest: %s: holding %s is locked", what, cid))
			}
			total = total.Add(h.Amount)
		}
		if total.LessThan(need) {
			panic(fmt.Sprintf("ledgertest: %s: inputs hold %s of %s, need %s", what, total, inst, need))
		}
	}
	nodes := make([]*tokenNode, len(inputs))
	for i, cid := range inputs {
		nodes[i] = w.archiveHolding(cid, op)
	}
	return inputs, total, nodes
}

// Operations.

// MintOp creates a holding of amount for owner, through the registry's
// mint choice (tx-kind mint). inst defaults to the world's instrument.
func (w *TokenWorld) MintOp(owner, amount string, inst ...TokenInstrument) TokenOp {
	w.init()
	in := w.Instrument()
	if len(inst) > 0 {
		in = w.instrumentOr(inst[0])
	}
	amt := tokenDecimal("Mint", amount)
	impl := w.impl(in)
	var op TokenOp
	create := w.createHolding(owner, in, amt, nil, &op)
	arg := ledger.Record(nil, ledger.F("receiver", ledger.Party(owner)), ledger.F("amount", tokenNumeric(amt)),
		ledger.F("instrumentId", ledger.Text(in.ID)))
	res := ledger.Record(nil, ledger.F("holdingCid", ledger.ContractID(op.Created[0].ContractID)),
		ledger.F("meta", tokenMetaValue(map[string]string{tokenMetaTxKind: "mint"})))
	op.root = w.exercise(impl, impl.rules, tokenSingletonCID("rules", impl, in.Admin), impl.mint,
		[]string{in.Admin}, []string{owner}, arg, res, false, create)
	return op
}

func (w *TokenWorld) transferOffer(s TransferSpec, what string) (*TransferOffer, map[string]string) {
	w.init()
	if s.Sender == "" || s.Receiver == "" {
		panic(fmt.Sprintf("ledgertest: %s: sender and receiver are required", what))
	}
	o := &TransferOffer{
		Sender: s.Sender, Receiver: s.Receiver, Instrument: w.instrumentOr(s.Instrument),
		Amount: tokenDecimal(what+" amount", s.Amount), Fee: tokenDecimal(what+" fee", s.Fee), Reason: s.Reason,
		RequestedAt: w.clock, ExecuteBefore: w.clock.Add(w.Expiry),
	}
	if !o.Amount.IsPositive() {
		panic(fmt.Sprintf("ledgertest: %s: amount must be positive, got %q", what, s.Amount))
	}
	o.Meta = maps.Clone(s.Meta)
	if o.Meta == nil {
		o.Meta = map[string]string{}
	}
	if s.Reason != "" {
		o.Meta[tokenMetaReason] = s.Reason
	}
	resultMeta := map[string]string{tokenMetaSender: s.Sender}
	if o.Fee.IsPositive() {
		resultMeta[tokenMetaBurned] = o.Fee.String()
	}
	return o, resultMeta
}

// factoryExercise wraps children into the TransferFactory_Transfer exercise
// of the sender, seen by the receiver as a choice observer (which a real
// participant does not show it: see TransferOp).
func (w *TokenWorld) factoryExercise(o *TransferOffer, inputs []string, extraMeta map[string]string, result ledger.Value, children ...*tokenNode) *tokenNode {
	impl := w.impl(o.Instrument)
	arg := ledger.Record(&tokenFactoryArgType,
		ledger.F("expectedAdmin", ledger.Party(o.Instrument.Admin)),
		ledger.F("transfer", tokenTransferValue(o, inputs)),
		ledger.F("extraArgs", tokenExtraArgs(extraMeta)))
	n := w.exercise(impl, impl.factory, tokenSingletonCID("factory", impl, o.Instrument.Admin), "TransferFactory_Transfer",
		[]string{o.Sender}, []string{o.Instrument.Admin, o.Receiver}, arg, result, false, children...)
	// Non-consuming: a participant lists no implemented interfaces.
	iface := TokenTransferFactoryInterface
	n.ev.(*ledger.ExercisedEvent).InterfaceID = &iface
	return n
}

// rulesExercise is the implementation's inner transfer step.
func (w *TokenWorld) rulesExercise(inst TokenInstrument, actors []string, summary map[string]decimal.Decimal, children ...*tokenNode) *tokenNode {
	impl := w.impl(inst)
	fields := []ledger.Field{}
	for _, k := range slices.Sorted(maps.Keys(summary)) {
		fields = append(fields, ledger.F(k, tokenNumeric(summary[k])))
	}
	arg := ledger.Record(nil, ledger.F("transferContext", ledger.Text("token-standard")))
	return w.exercise(impl, impl.rules, tokenSingletonCID("rules", impl, inst.Admin), impl.transfer,
		actors, []string{inst.Admin}, arg, ledger.Record(nil, ledger.F("summary", ledger.Record(nil, fields...))), false, children...)
}

// TransferOp is a 1-step transfer: TransferFactory_Transfer exercised by the
// sender through the TransferFactory interface, whose implementation
// archives the inputs and creates the receiver's holding and the sender's
// change (inputs − amount − fee). The result is
// TransferInstructionResult_Completed with tx-kind transfer, the sender and
// the burned fee in its metadata. A transfer to oneself is how wallets
// merge holdings.
//
// The receiver is made a choice observer of TransferFactory_Transfer, so
// that TokenProjection shows it the whole exercise. A real participant does
// not: the token standard's TransferFactory_Transfer has no observers, and
// the receiver of an Amulet 1-step transfer sees only what it is an
// informee of, the exercise of TransferPreapproval_Send on its preapproval
// (a contract it signs) with its subtree, at the node ids of the whole
// transaction. That exercise's result carries the metadata (tx-kind
// transfer, the sender, the burned fee and the reason); the factory's,
// which Amulet reduces to the burned fee, is out of the receiver's view. A
// test of a receiver's history that must match a real participant's builds
// that shape itself (tokenstd's rv131_realprojection_test.go does).
func (w *TokenWorld) TransferOp(s TransferSpec) TokenOp {
	o, resMeta := w.transferOffer(s, "Transfer")
	resMeta[tokenMetaTxKind] = "transfer"
	var op TokenOp
	need := o.Amount.Add(o.Fee)
	inputs, total, archives := w.spend("Transfer", o.Sender, o.Instrument, need, s.InputHoldings, &op)
	children := archives
	children = append(children, w.createHolding(o.Receiver, o.Instrument, o.Amount, nil, &op))
	receiverCID := op.Created[0].ContractID
	var change []string
	if c := total.Sub(need); c.IsPositive() {
		children = append(children, w.createHolding(o.Sender, o.Instrument, c, nil, &op))
		change = append(change, op.Created[1].ContractID)
	}
	inner := w.rulesExercise(o.Instrument, []string{o.Sender}, map[string]decimal.Decimal{
		"inputAmount": total, "outputAmount": o.Amount, "burned": o.Fee}, children...)
	op.root = w.factoryExercise(o, inputs, s.ExtraMeta, tokenResult(tokenCompleted([]string{receiverCID}), change, resMeta), inner)
	return op
}

// OfferOp is the first step of a multi-step transfer, for a receiver
// without a transfer pre-approval: TransferFactory_Transfer archives the
// inputs, locks Amount + Fee in a holding of the sender (lock holder: the
// admin, expiring at executeBefore), returns the change and creates a
// transfer instruction (signed by admin and sender, observed by the
// receiver) with the TransferInstruction view, status
// TransferPendingReceiverAcceptance. The result is
// TransferInstructionResult_Pending, with no burned metadata: the Fee is
// burned by AcceptOp. op.InstructionCID names the instruction.
//
// A real Amulet registry charges at both steps: the lock is itself a
// transfer (to the sender), whose fee it burns and names in this result's
// metadata, and it locks the amount plus a reserve for the second step's
// fee; its acceptance burns that step's fee and returns the rest of the
// reserve to the sender as change. A test of fees at the offer edits the
// transaction this builds (withdrawal's rv50_stepfees_test.go and
// rv151_amuletreserve_test.go do).
func (w *TokenWorld) OfferOp(s TransferSpec) TokenOp {
	o, resMeta := w.transferOffer(s, "Offer")
	delete(resMeta, tokenMetaBurned) // burned on acceptance
	var op TokenOp
	need := o.Amount.Add(o.Fee)
	inputs, total, archives := w.spend("Offer", o.Sender, o.Instrument, need, s.InputHoldings, &op)
	children := archives
	lock := &HoldingLock{Holders: []string{o.Instrument.Admin}, ExpiresAt: o.ExecuteBefore, Context: "transfer to " + o.Receiver}
	children = append(children, w.createHolding(o.Sender, o.Instrument, need, lock, &op))
	o.Locked = op.Created[0].ContractID
	var change []string
	if c := total.Sub(need); c.IsPositive() {
		children = append(children, w.createHolding(o.Sender, o.Instrument, c, nil, &op))
		change = append(change, op.Created[1].ContractID)
	}
	inner := w.rulesExercise(o.Instrument, []string{o.Sender}, map[string]decimal.Decimal{"inputAmount": total, "lockedAmount": need}, children...)

	impl := w.impl(o.Instrument)
	o.ContractID = w.newCID("instr")
	o.Open = true
	w.offers[o.ContractID] = o
	op.InstructionCID = o.ContractID
	view := ledger.Record(&tokenInstrViewType,
		ledger.F("originalInstructionCid", ledger.None()),
		ledger.F("transfer", tokenTransferValue(o, inputs)),
		ledger.F("status", ledger.Variant(&tokenStatusType, "TransferPendingReceiverAcceptance", ledger.Unit())),
		ledger.F("meta", tokenMetaValue(nil)))
	instr := &tokenNode{
		informees: []string{o.Instrument.Admin, o.Sender, o.Receiver},
		ev: &ledger.CreatedEvent{
			ContractID:  o.ContractID,
			TemplateID:  impl.instruction,
			PackageName: impl.pkgName,
			CreateArguments: ledger.Record(&impl.instruction,
				ledger.F("transfer", tokenTransferValue(o, inputs)),
				ledger.F("lockedHoldingCid", ledger.ContractID(o.Locked))),
			InterfaceViews: []ledger.InterfaceView{{
				InterfaceID: TokenTransferInstructionInterface, Value: view, ImplementationPackageID: impl.pkg,
			}},
			Signatories: tokenParties([]string{o.Instrument.Admin, o.Sender}),
			Observers:   []string{o.Receiver},
			CreatedAt:   w.clock,
		},
	}
	op.root = w.factoryExercise(o, inputs, s.ExtraMeta, tokenResult(tokenPending(o.ContractID), change, resMeta), inner, instr)
	return op
}

func (w *TokenWorld) openOffer(what, cid string) *TransferOffer {
	w.init()
	o, ok := w.offers[cid]
	switch {
	case !ok:
		panic(fmt.Sprintf("ledgertest: %s: no transfer instruction %s", what, cid))
	case !o.Open:
		panic(fmt.Sprintf("ledgertest: %s: transfer instruction %s is already closed", what, cid))
	}
	o.Open = false
	return o
}

// instructionChoice is a standard TransferInstruction choice exercised on
// the instruction through the interface.
func (w *TokenWorld) instructionChoice(o *TransferOffer, choice, actor string, extraMeta map[string]string, result ledger.Value, children ...*tokenNode) *tokenNode {
	impl := w.impl(o.Instrument)
	n := w.exercise(impl, impl.instruction, o.ContractID, choice, []string{actor},
		[]string{o.Instrument.Admin, o.Sender, o.Receiver},
		ledger.Record(&ledger.Identifier{PackageID: tokenInstructionPkg, ModuleName: "Splice.Api.Token.TransferInstructionV1", EntityName: choice},
			ledger.F("extraArgs", tokenExtraArgs(extraMeta))),
		result, true, children...)
	x := n.ev.(*ledger.ExercisedEvent)
	iface := TokenTransferInstructionInterface
	x.InterfaceID = &iface
	x.ImplementedInterfaces = []ledger.Identifier{TokenTransferInstructionInterface}
	return n
}

// AcceptOp is the receiver's TransferInstruction_Accept: the locked holding
// is archived, the receiver gets Amount, the fee is burned. Result:
// TransferInstructionResult_Completed with tx-kind transfer.
func (w *TokenWorld) AcceptOp(instructionCID string) TokenOp {
	o := w.openOffer("Accept", instructionCID)
	op := TokenOp{InstructionCID: o.ContractID}
	archive := w.archiveHolding(o.Locked, &op)
	create := w.createHolding(o.Receiver, o.Instrument, o.Amount, nil, &op)
	inner := w.rulesExercise(o.Instrument, []string{o.Receiver}, map[string]decimal.Decimal{
		"inputAmount": o.Amount.Add(o.Fee), "outputAmount": o.Amount, "burned": o.Fee}, archive, create)
	meta := map[string]string{tokenMetaTxKind: "transfer", tokenMetaSender: o.Sender}
	if o.Fee.IsPositive() {
		meta[tokenMetaBurned] = o.Fee.String()
	}
	op.root = w.instructionChoice(o, "TransferInstruction_Accept", o.Receiver, nil,
		tokenResult(tokenCompleted([]string{op.Created[0].ContractID}), nil, meta), inner)
	return op
}

// returnLocked unlocks an offer's funds back to the sender.
func (w *TokenWorld) returnLocked(o *TransferOffer, op *TokenOp) []*tokenNode {
	archive := w.archiveHolding(o.Locked, op)
	create := w.createHolding(o.Sender, o.Instrument, o.Amount.Add(o.Fee), nil, op)
	return []*tokenNode{archive, create}
}

// RejectOp is the receiver's TransferInstruction_Reject: the locked funds go
// back to the sender unlocked. Result: TransferInstructionResult_Failed.
func (w *TokenWorld) RejectOp(instructionCID string) TokenOp {
	o := w.openOffer("Reject", instructionCID)
	op := TokenOp{InstructionCID: o.ContractID}
	children := w.returnLocked(o, &op)
	op.root = w.instructionChoice(o, "TransferInstruction_Reject", o.Receiver, nil,
		tokenResult(tokenFailed(), []string{op.Created[0].ContractID}, nil), children...)
	return op
}

// WithdrawOp is the sender's TransferInstruction_Withdraw: the locked funds
// go back to the sender unlocked. Result: TransferInstructionResult_Failed.
func (w *TokenWorld) WithdrawOp(instructionCID string) TokenOp {
	o := w.openOffer("Withdraw", instructionCID)
	op := TokenOp{InstructionCID: o.ContractID}
	children := w.returnLocked(o, &op)
	op.root = w.instructionChoice(o, "TransferInstruction_Withdraw", o.Sender, nil,
		tokenResult(tokenFailed(), []string{op.Created[0].ContractID}, nil), children...)
	return op
}

// ExpireOp is the registry's clean-up of an instruction past its deadline:
// the admin exercises the implementation's own expire choice (not a token
// standard choice) on the instruction, returning the locked funds to the
// sender. The transaction's record time is set past executeBefore.
func (w *TokenWorld) ExpireOp(instructionCID string) TokenOp {
	o := w.openOffer("Expire", instructionCID)
	op := TokenOp{InstructionCID: o.ContractID, minTime: o.ExecuteBefore.Add(w.Step)}
	children := w.returnLocked(o, &op)
	impl := w.impl(o.Instrument)
	res := ledger.Record(nil, ledger.F("senderHoldingCid", ledger.ContractID(op.Created[0].ContractID)),
		ledger.F("meta", tokenMetaValue(map[string]string{tokenMetaTxKind: "unlock"})))
	n := w.exercise(impl, impl.instruction, o.ContractID, impl.expire, []string{o.Instrument.Admin},
		[]string{o.Sender, o.Receiver}, ledger.Record(nil), res, true, children...)
	n.ev.(*ledger.ExercisedEvent).ImplementedInterfaces = []ledger.Identifier{TokenTransferInstructionInterface}
	op.root = n
	return op
}

// LockOp locks amount of owner's funds for the lock's holders (who become
// stakeholders), through an implementation choice without tx-kind: the
// inputs are archived, a locked holding and the change created.
func (w *TokenWorld) LockOp(owner, amount string, lock HoldingLock, inst ...TokenInstrument) TokenOp {
	w.init()
	in := w.Instrument()
	if len(inst) > 0 {
		in = w.instrumentOr(inst[0])
	}
	amt := tokenDecimal("Lock", amount)
	var op TokenOp
	_, total, children := w.spend("Lock", owner, in, amt, nil, &op)
	l := lock
	l.Holders = slices.Clone(lock.Holders)
	children = append(children, w.createHolding(owner, in, amt, &l, &op))
	if c := total.Sub(amt); c.IsPositive() {
		children = append(children, w.createHolding(owner, in, c, nil, &op))
	}
	impl := w.impl(in)
	arg := ledger.Record(nil, ledger.F("owner", ledger.Party(owner)), ledger.F("amount", tokenNumeric(amt)),
		ledger.F("lock", tokenLockValue(&l)))
	res := ledger.Record(nil, ledger.F("lockedHoldingCid", ledger.ContractID(op.Created[0].ContractID)))
	op.root = w.exercise(impl, impl.rules, tokenSingletonCID("rules", impl, in.Admin), impl.lock,
		[]string{owner}, tokenParties([]string{in.Admin}, l.Holders), arg, res, false, children...)
	return op
}

// UnlockOp unlocks a locked holding: the owner and lock holders exercise the
// implementation's unlock choice on it (tx-kind unlock), which creates an
// unlocked holding of the same amount.
func (w *TokenWorld) UnlockOp(holdingCID string) TokenOp {
	w.init()
	h, ok := w.holdings[holdingCID]
	if !ok || h.Archived || h.Lock == nil {
		panic(fmt.Sprintf("ledgertest: Unlock: %s is not a live locked holding", holdingCID))
	}
	var op TokenOp
	w.archive(h)
	op.Archived = append(op.Archived, *h)
	create := w.createHolding(h.Owner, h.Instrument, h.Amount, nil, &op)
	impl := w.impl(h.Instrument)
	res := ledger.Record(nil, ledger.F("holdingCid", ledger.ContractID(op.Created[0].ContractID)),
		ledger.F("meta", tokenMetaValue(map[string]string{tokenMetaTxKind: "unlock"})))
	n := w.exercise(impl, impl.locked, holdingCID, impl.unlock, tokenParties([]string{h.Owner}, h.Lock.Holders),
		[]string{h.Instrument.Admin}, ledger.Record(nil), res, true, create)
	n.ev.(*ledger.ExercisedEvent).ImplementedInterfaces = []ledger.Identifier{TokenHoldingInterface}
	op.root = n
	return op
}

// BurnOp burns amount of owner's funds (tx-kind burn, burned metadata):
// the inputs are archived and the change created.
func (w *TokenWorld) BurnOp(owner, amount string, inst ...TokenInstrument) TokenOp {
	w.init()
	in := w.Instrument()
	if len(inst) > 0 {
		in = w.instrumentOr(inst[0])
	}
	amt := tokenDecimal("Burn", amount)
	var op TokenOp
	_, total, children := w.spend("Burn", owner, in, amt, nil, &op)
	if c := total.Sub(amt); c.IsPositive() {
		children = append(children, w.createHolding(owner, in, c, nil, &op))
	}
	impl := w.impl(in)
	arg := ledger.Record(nil, ledger.F("owner", ledger.Party(owner)), ledger.F("amount", tokenNumeric(amt)))
	res := ledger.Record(nil, ledger.F("meta", tokenMetaValue(map[string]string{tokenMetaTxKind: "burn", tokenMetaBurned: amt.String()})))
	op.root = w.exercise(impl, impl.rules, tokenSingletonCID("rules", impl, in.Admin), impl.burn,
		[]string{owner}, []string{in.Admin}, arg, res, false, children...)
	return op
}

// MergeSplitOp spends the given holdings of owner (all of owner's unlocked
// holdings of the instrument if none are given) and creates holdings of
// the given amounts, through the implementation's merge-split choice
// (tx-kind merge-split). The outputs must sum to the inputs.
func (w *TokenWorld) MergeSplitOp(owner string, inputs []string, outputs []string, inst ...TokenInstrument) TokenOp {
	w.init()
	in := w.Instrument()
	if len(inst) > 0 {
		in = w.instrumentOr(inst[0])
	}
	var sum decimal.Decimal
	amounts := make([]decimal.Decimal, len(outputs))
	for i, s := range outputs {
		amounts[i] = tokenDecimal("MergeSplit", s)
		sum = sum.Add(amounts[i])
	}
	if len(inputs) == 0 {
		for _, h := range w.Holdings(owner, in) {
			if h.Lock == nil {
				inputs = append(inputs, h.ContractID)
			}
		}
	}
	var op TokenOp
	_, total, children := w.spend("MergeSplit", owner, in, sum, inputs, &op)
	if !total.Equal(sum) {
		panic(fmt.Sprintf("ledgertest: MergeSplit: inputs hold %s, outputs %s", total, sum))
	}
	for _, a := range amounts {
		children = append(children, w.createHolding(owner, in, a, nil, &op))
	}
	impl := w.impl(in)
	arg := ledger.Record(nil, ledger.F("owner", ledger.Party(owner)), ledger.F("inputHoldingCids", tokenCIDList(inputs)))
	res := ledger.Record(nil, ledger.F("meta", tokenMetaValue(map[string]string{tokenMetaTxKind: "merge-split"})))
	op.root = w.exercise(impl, impl.rules, tokenSingletonCID("rules", impl, in.Admin), impl.mergeSplit,
		[]string{owner}, []string{in.Admin}, arg, res, false, children...)
	return op
}

// PreapprovalOp creates a transfer pre-approval for receiver: a contract
// that is not a token standard interface, an unrelated event to a history.
func (w *TokenWorld) PreapprovalOp(receiver string) TokenOp {
	w.init()
	in := w.Instrument()
	impl := w.impl(in)
	cid := w.newCID("preapproval")
	return TokenOp{root: &tokenNode{
		informees: []string{receiver, in.Admin},
		ev: &ledger.CreatedEvent{
			ContractID:  cid,
			TemplateID:  impl.preapproval,
			PackageName: impl.pkgName,
			CreateArguments: ledger.Record(&impl.preapproval,
				ledger.F("receiver", ledger.Party(receiver)), ledger.F("provider", ledger.Party(receiver)),
				ledger.F("dso", ledger.Party(in.Admin)), ledger.F("validFrom", ledger.Timestamp(w.clock)),
				ledger.F("expiresAt", ledger.Timestamp(w.clock.Add(365*24*time.Hour)))),
			Signatories: tokenParties([]string{receiver, in.Admin}),
			CreatedAt:   w.clock,
		},
	}}
}

// WrapOp nests operations inside one exercise, as a wallet batch or an
// automation choice does. The wrapper's actor and provider see everything
// inside it.
func (w *TokenWorld) WrapOp(wrap TokenWrap, ops ...TokenOp) TokenOp {
	w.init()
	if wrap.Actor == "" {
		panic("ledgertest: Wrap: an actor is required")
	}
	if wrap.Provider == "" {
		wrap.Provider = w.Admin
	}
	if wrap.Choice == "" {
		wrap.Choice = "WalletAppInstall_ExecuteBatch"
	}
	var out TokenOp
	children := make([]*tokenNode, 0, len(ops))
	for _, op := range ops {
		op.place("Wrap")
		children = append(children, op.root)
		out.Created = append(out.Created, op.Created...)
		out.Archived = append(out.Archived, op.Archived...)
		if op.InstructionCID != "" {
			out.InstructionCID = op.InstructionCID
		}
		if op.minTime.After(out.minTime) {
			out.minTime = op.minTime
		}
	}
	impl := tokenImpl{pkgName: "splice-wallet", pkg: tokenWalletPkg}
	arg := ledger.Record(nil, ledger.F("operations", ledger.Int64(int64(len(ops)))))
	out.root = w.exercise(impl, tokenWalletTemplate, tokenSingletonCID("wallet", impl, wrap.Actor), wrap.Choice,
		[]string{wrap.Actor}, []string{wrap.Provider}, arg, ledger.Record(nil, ledger.F("endUserParty", ledger.Party(wrap.Actor))), false, children...)
	return out
}

// One-operation transactions.

// Mint is Tx(MintOp(owner, amount, inst...)).
func (w *TokenWorld) Mint(owner, amount string, inst ...TokenInstrument) *ledger.Transaction {
	return w.Tx(w.MintOp(owner, amount, inst...))
}

// Transfer is Tx(TransferOp(s)).
func (w *TokenWorld) Transfer(s TransferSpec) *ledger.Transaction { return w.Tx(w.TransferOp(s)) }

// Offer is Tx(OfferOp(s)); it also returns the instruction's contract id.
func (w *TokenWorld) Offer(s TransferSpec) (*ledger.Transaction, string) {
	op := w.OfferOp(s)
	return w.Tx(op), op.InstructionCID
}

// Accept is Tx(AcceptOp(instructionCID)).
func (w *TokenWorld) Accept(instructionCID string) *ledger.Transaction {
	return w.Tx(w.AcceptOp(instructionCID))
}

// Reject is Tx(RejectOp(instructionCID)).
func (w *TokenWorld) Reject(instructionCID string) *ledger.Transaction {
	return w.Tx(w.RejectOp(instructionCID))
}

// Withdraw is Tx(WithdrawOp(instructionCID)).
func (w *TokenWorld) Withdraw(instructionCID string) *ledger.Transaction {
	return w.Tx(w.WithdrawOp(instructionCID))
}

// Expire is Tx(ExpireOp(instructionCID)).
func (w *TokenWorld) Expire(instructionCID string) *ledger.Transaction {
	return w.Tx(w.ExpireOp(instructionCID))
}

// Lock is Tx(LockOp(owner, amount, lock, inst...)).
func (w *TokenWorld) Lock(owner, amount string, lock HoldingLock, inst ...TokenInstrument) *ledger.Transaction {
	return w.Tx(w.LockOp(owner, amount, lock, inst...))
}

// Unlock is Tx(UnlockOp(holdingCID)).
func (w *TokenWorld) Unlock(holdingCID string) *ledger.Transaction {
	return w.Tx(w.UnlockOp(holdingCID))
}

// Burn is Tx(BurnOp(owner, amount, inst...)).
func (w *TokenWorld) Burn(owner, amount string, inst ...TokenInstrument) *ledger.Transaction {
	return w.Tx(w.BurnOp(owner, amount, inst...))
}

// MergeSplit is Tx(MergeSplitOp(owner, inputs, outputs, inst...)).
func (w *TokenWorld) MergeSplit(owner string, inputs, outputs []string, inst ...TokenInstrument) *ledger.Transaction {
	return w.Tx(w.MergeSplitOp(owner, inputs, outputs, inst...))
}

// DepositKey names the deposits of one account in one instrument.
type DepositKey struct {
	Account    string
	Instrument TokenInstrument
}

// TokenDemo is a scripted history made by BuildDemoHistory.
type TokenDemo struct {
	World     *TokenWorld
	Treasury  string
	Customers []string
	// External is the party the treasury's withdrawals go to.
	External string
	// Instruments are the default instrument and a second one.
	Instruments  []TokenInstrument
	Transactions []*ledger.Transaction
	// Deposits sums what each account deposited (1-step deposits and
	// accepted offers; deposits without a reason under the account "").
	Deposits map[DepositKey]decimal.Decimal
	// Withdrawn sums what the treasury sent (excluding fees), Fees what it
	// burned, per instrument.
	Withdrawn, Fees map[TokenInstrument]decimal.Decimal
}

// BuildDemoHistory returns a realistic mixed history of n transactions
// around treasury, built by a new TokenWorld that leaves offsets, update
// ids and record times to the fake Participant. See TokenWorld.DemoHistory.
func BuildDemoHistory(treasury string, n int) *TokenDemo {
	return (&TokenWorld{}).DemoHistory(treasury, n)
}

// DemoHistory scripts n transactions in w, deterministically (the same
// world settings give the same history): customers receive minted funds
// and deposit to treasury with reasons naming their accounts (now and then
// none), in one or two steps (offers the treasury accepts or rejects),
// sometimes two deposits in a transaction or a deposit nested in a wallet
// batch, also of a second instrument; the treasury withdraws to an external
// party with change and a fee, in one step or by an offer that is accepted,
// rejected, withdrawn or left to expire, and merges its holdings; customers pay each other and the treasury gets a
// transfer pre-approval (transactions it may not see at all).
func (w *TokenWorld) DemoHistory(treasury string, n int) *TokenDemo {
	w.init()
	rng := rand.New(rand.NewPCG(4, 2026))
	usd := TokenInstrument{Admin: "registry::1220demo", ID: "USDX"}
	d := &TokenDemo{
		World: w, Treasury: treasury, External: "exchange-b::1220demo",
		Instruments: []TokenInstrument{w.Instrument(), usd},
		Deposits:    map[DepositKey]decimal.Decimal{},
		Withdrawn:   map[TokenInstrument]decimal.Decimal{}, Fees: map[TokenInstrument]decimal.Decimal{},
	}
	for i := range 5 {
		d.Customers = append(d.Customers, fmt.Sprintf("customer-%d::1220demo", i+1))
	}
	cents := func(lo, hi int) decimal.Decimal { return decimal.New(int64(lo+rng.IntN(hi-lo+1)), -2) }
	add := func(m map[TokenInstrument]decimal.Decimal, i TokenInstrument, a decimal.Decimal) { m[i] = m[i].Add(a) }
	emit := func(tx *ledger.Transaction) { d.Transactions = append(d.Transactions, tx) }
	funded := func(party string, inst TokenInstrument, need decimal.Decimal) bool {
		var sum decimal.Decimal
		for _, h := range w.Holdings(party, inst) {
			if h.Lock == nil {
				sum = sum.Add(h.Amount)
			}
		}
		return sum.GreaterThanOrEqual(need)
	}
	type pending struct {
		cid      string
		incoming bool
		account  string
	}
	var offers []pending
	deposit := func(inst TokenInstrument) TransferSpec {
		c := rng.IntN(len(d.Customers))
		reason := fmt.Sprintf("acct-%d", 100+c)
		if rng.IntN(20) == 0 {
			reason = ""
		}
		return TransferSpec{Sender: d.Customers[c], Receiver: treasury, Instrument: inst,
			Amount: cents(1000, 50000).String(), Fee: cents(1, 50).String(), Reason: reason}
	}
	credit := func(s TransferSpec) {
		k := DepositKey{Account: s.Reason, Instrument: w.instrumentOr(s.Instrument)}
		d.Deposits[k] = d.Deposits[k].Add(tokenDecimal("demo", s.Amount))
	}
	// fund makes sure the sender of s can pay, minting first (in its own
	// transaction) if needed; it reports whether a transaction was used.
	fund := func(s TransferSpec) bool {
		need := tokenDecimal("demo", s.Amount).Add(tokenDecimal("demo", s.Fee))
		if funded(s.Sender, w.instrumentOr(s.Instrument), need) {
			return false
		}
		emit(w.Mint(s.Sender, need.Add(cents(10000, 100000)).String(), w.instrumentOr(s.Instrument)))
		return true
	}
	withdrawals, resolvedIn, resolvedOut := 0, 0, 0
	for len(d.Transactions) < n {
		switch roll := rng.IntN(100); {
		case roll < 35: // 1-step deposit
			inst := d.Instruments[0]
			if rng.IntN(6) == 0 {
				inst = usd
			}
			s := deposit(inst)
			if fund(s) {
				continue
			}
			emit(w.Transfer(s))
			credit(s)
		case roll < 42: // two deposits in one transaction
			a, b := deposit(d.Instruments[0]), deposit(d.Instruments[0])
			if a.Sender == b.Sender {
				b.Sender = d.Customers[(slices.Index(d.Customers, a.Sender)+1)%len(d.Customers)]
				b.Reason = fmt.Sprintf("acct-%d", 100+slices.Index(d.Customers, b.Sender))
			}
			if fund(a) || fund(b) {
				continue
			}
			emit(w.Tx(w.TransferOp(a), w.TransferOp(b)))
			credit(a)
			credit(b)
		case roll < 47: // deposit nested in a wallet batch
			s := deposit(d.Instruments[0])
			if fund(s) {
				continue
			}
			emit(w.Tx(w.WrapOp(TokenWrap{Actor: s.Sender}, w.TransferOp(s))))
			credit(s)
		case roll < 53: // 2-step deposit offer
			s := deposit(d.Instruments[0])
			if fund(s) {
				continue
			}
			tx, cid := w.Offer(s)
			emit(tx)
			offers = append(offers, pending{cid: cid, incoming: true, account: s.Reason})
		case roll < 70: // 1-step withdrawal with change and fee
			inst := d.Instruments[rng.IntN(2)]
			amount, fee := cents(500, 20000), cents(10, 100)
			if !funded(treasury, inst, amount.Add(fee)) {
				continue
			}
			withdrawals++
			emit(w.Transfer(TransferSpec{Sender: treasury, Receiver: d.External, Instrument: inst,
				Amount: amount.String(), Fee: fee.String(), Reason: fmt.Sprintf("wd-%d", withdrawals)}))
			add(d.Withdrawn, inst, amount)
			add(d.Fees, inst, fee)
		case roll < 74: // 2-step withdrawal
			inst := d.Instruments[0]
			amount, fee := cents(500, 20000), cents(10, 100)
			if !funded(treasury, inst, amount.Add(fee)) {
				continue
			}
			withdrawals++
			tx, cid := w.Offer(TransferSpec{Sender: treasury, Receiver: d.External, Instrument: inst,
				Amount: amount.String(), Fee: fee.String(), Reason: fmt.Sprintf("wd-%d", withdrawals)})
			emit(tx)
			offers = append(offers, pending{cid: cid})
		case roll < 84: // resolve a pending offer
			if len(offers) == 0 {
				continue
			}
			i := rng.IntN(len(offers))
			p := offers[i]
			offers = slices.Delete(offers, i, i+1)
			o, _ := w.TransferOffer(p.cid)
			var outcome string
			if p.incoming {
				outcome = []string{"accept", "accept", "reject", "accept"}[resolvedIn%4]
				resolvedIn++
			} else {
				outcome = []string{"accept", "withdraw", "accept", "reject", "accept", "expire"}[resolvedOut%6]
				resolvedOut++
			}
			switch outcome {
			case "accept":
				emit(w.Accept(p.cid))
				if p.incoming {
					k := DepositKey{Account: p.account, Instrument: o.Instrument}
					d.Deposits[k] = d.Deposits[k].Add(o.Amount)
				} else {
					add(d.Withdrawn, o.Instrument, o.Amount)
					add(d.Fees, o.Instrument, o.Fee)
				}
			case "reject":
				emit(w.Reject(p.cid))
			case "withdraw":
				emit(w.Withdraw(p.cid))
			default:
				emit(w.Expire(p.cid))
			}
		case roll < 88: // merge the treasury's holdings
			var inputs []string
			var sum decimal.Decimal
			for _, h := range w.Holdings(treasury, d.Instruments[0]) {
				if h.Lock == nil && len(inputs) < 6 {
					inputs = append(inputs, h.ContractID)
					sum = sum.Add(h.Amount)
				}
			}
			if len(inputs) < 4 {
				continue
			}
			emit(w.Transfer(TransferSpec{Sender: treasury, Receiver: treasury, Amount: sum.String(), InputHoldings: inputs}))
		case roll < 95: // customers paying each other
			a := rng.IntN(len(d.Customers))
			s := TransferSpec{Sender: d.Customers[a], Receiver: d.Customers[(a+1)%len(d.Customers)],
				Amount: cents(100, 5000).String(), Reason: "thanks"}
			if fund(s) {
				continue
			}
			emit(w.Transfer(s))
		default: // a contract of the treasury that is no token
			emit(w.Tx(w.PreapprovalOp(treasury)))
		}
	}
	d.Transactions = d.Transactions[:n]
	return d
}
