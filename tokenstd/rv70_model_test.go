package tokenstd_test

// The treasury's books against the ledger's truth, by random model: a
// seeded random history of treasury activity on the fake participant,
// ingested by the real Ingester with the History handler and the
// withdrawal Reconciler, then checked against the participant's
// transactions (the ledger's truth) and the model's own accounting.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/cantonx/txhistory/withdrawal"
	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// TestTreasuryBooksModel runs booksModelSeedsDefault seeds;
// TXHISTORY_MODEL_SEEDS=n runs n, from TXHISTORY_MODEL_SEED (default 1)
// on, and TXHISTORY_MODEL_STEPS sets the number of steps per seed. A
// failure names its seed; TXHISTORY_MODEL_SEED=<seed>
// TXHISTORY_MODEL_SEEDS=1 runs it again (the history and the stops are the
// seed's).
const (
	booksModelSeedsDefault = 3
	booksModelStepsDefault = 100
)

func TestTreasuryBooksModel(t *testing.T) {
	n, first, steps := booksModelSeedsDefault, uint64(1), booksModelStepsDefault
	for _, v := range []struct {
		name string
		to   *int
	}{{"TXHISTORY_MODEL_SEEDS", &n}, {"TXHISTORY_MODEL_STEPS", &steps}} {
		if s := os.Getenv(v.name); s != "" {
			i, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
			*v.to = i
		}
	}
	if s := os.Getenv("TXHISTORY_MODEL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TXHISTORY_MODEL_SEED: %v", err)
		}
		first = v
	}
	for seed := first; seed < first+uint64(n); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runBooksModel(t, seed, steps)
		})
	}
}

// booksModel is the random history and what it should book.
type booksModel struct {
	rng         *rand.Rand
	w           *ledgertest.TokenWorld
	instruments []ledgertest.TokenInstrument
	depositors  []string
	receivers   []string
	txs         []*ledger.Transaction
	log         []string // one line per transaction, for a failure's message

	// Open offers by direction, and the treasury's locked holdings
	// outside transfers.
	offersIn, offersOut []string
	locked              []string

	// What the history must book, per instrument: deposits credited,
	// withdrawals paid out (transferred), fees burned from the treasury,
	// and mints to it. credits is per account and instrument.
	deposits, unassigned, paid, fees, mints map[ledgertest.TokenInstrument]decimal.Decimal
	credits                                 map[string]decimal.Decimal
	// Withdrawal ids and the status their last transfer leaves them in.
	withdrawals map[string]string
	self        map[string]bool // reasons of the treasury's offers to itself
	sent        map[string]modelTransfer
	nextID      int

	// batch collects the operations of a transaction of several while it
	// is being built: only the treasury's own operations then.
	batch *modelBatch
}

// modelTransfer is a withdrawal the treasury sent.
type modelTransfer struct {
	inst        ledgertest.TokenInstrument
	amount, fee decimal.Decimal
	to          string
}

type modelBatch struct {
	ops  []ledgertest.TokenOp
	what []string
}

func newBooksModel(seed uint64) *booksModel {
	w := &ledgertest.TokenWorld{Sequence: true, Expiry: time.Minute}
	m := &booksModel{
		rng: rand.New(rand.NewPCG(seed, 0x70)),
		w:   w,
		instruments: []ledgertest.TokenInstrument{
			w.Instrument(),       // Amulet@DSO, the Amulet templates
			w.Instrument("USDx"), // a generic registry's, same admin
			{Admin: "registry::1220gold", ID: "Gold"},
			{Admin: "registry::1220gold", ID: "Amulet"}, // the same id, another admin
		},
		depositors:  []string{"alice::1220a", "bob::1220b", "carol::1220c"},
		receivers:   []string{"dave::1220d", "erin::1220e"},
		deposits:    map[ledgertest.TokenInstrument]decimal.Decimal{},
		unassigned:  map[ledgertest.TokenInstrument]decimal.Decimal{},
		paid:        map[ledgertest.TokenInstrument]decimal.Decimal{},
		fees:        map[ledgertest.TokenInstrument]decimal.Decimal{},
		mints:       map[ledgertest.TokenInstrument]decimal.Decimal{},
		credits:     map[string]decimal.Decimal{},
		withdrawals: map[string]string{},
		self:        map[string]bool{},
		sent:        map[string]modelTransfer{},
	}
	return m
}

// amount is a random positive amount at full Numeric scale (10 decimals),
// below max (in whole units).
func (m *booksModel) amount(max int64) decimal.Decimal {
	switch m.rng.IntN(20) {
	case 0: // dust: the last decimal
		return decimal.New(1+m.rng.Int64N(9), -10)
	case 1: // a whale: 28 digits in all
		return decimal.New(1+m.rng.Int64N(max*10_000_000_000-1), -10).Add(decimal.New(1+m.rng.Int64N(1_000_000_000), 9))
	}
	return decimal.New(1+m.rng.Int64N(max*10_000_000_000-1), -10)
}

// below is a random amount in (0, max] at full scale (max is positive,
// at most 10 decimals, and may exceed an int64 of units).
func (m *booksModel) below(max decimal.Decimal) decimal.Decimal {
	units := max.Shift(10)
	if units.GreaterThan(decimal.NewFromInt(1 << 62)) {
		units = decimal.NewFromInt(1 << 62)
	}
	if units.LessThan(decimal.NewFromInt(1)) {
		return decimal.New(1, -10)
	}
	return decimal.New(1+m.rng.Int64N(units.IntPart()), -10)
}

func (m *booksModel) pick(list []string) string { return list[m.rng.IntN(len(list))] }

func (m *booksModel) instrument() ledgertest.TokenInstrument {
	return m.instruments[m.rng.IntN(len(m.instruments))]
}

func (m *booksModel) add(to map[ledgertest.TokenInstrument]decimal.Decimal, inst ledgertest.TokenInstrument, d decimal.Decimal) {
	to[inst] = to[inst].Add(d)
}

// unlocked is owner's unlocked balance of inst in the world.
func (m *booksModel) unlocked(owner string, inst ledgertest.TokenInstrument) decimal.Decimal {
	var sum decimal.Decimal
	for _, h := range m.w.Holdings(owner, inst) {
		if h.Lock == nil {
			sum = sum.Add(h.Amount)
		}
	}
	return sum
}

func (m *booksModel) tx(what string, ops ...ledgertest.TokenOp) {
	if m.batch != nil { // one operation of a batch
		m.batch.ops = append(m.batch.ops, ops...)
		m.batch.what = append(m.batch.what, what)
		return
	}
	// Now and then a treasury operation comes in a wallet batch.
	if len(ops) == 1 && m.rng.IntN(6) == 0 && what[0] == 'T' {
		ops = []ledgertest.TokenOp{m.w.WrapOp(ledgertest.TokenWrap{Actor: treasury}, ops...)}
		what += " (wrapped)"
	}
	m.txs = append(m.txs, m.w.Tx(ops...))
	m.log = append(m.log, what)
}

// fund gives a depositor funds of inst (not the treasury's business).
func (m *booksModel) fund(who string, inst ledgertest.TokenInstrument, need decimal.Decimal) {
	if m.unlocked(who, inst).GreaterThanOrEqual(need) {
		return
	}
	amt := need.Add(m.amount(1000))
	m.tx(fmt.Sprintf("M mint %s %s to %s", amt, inst, who), m.w.MintOp(who, amt.String(), inst))
}

// account is a deposit's reason: now and then none, for an unassigned
// deposit.
func (m *booksModel) account() string {
	if m.rng.IntN(8) == 0 {
		return ""
	}
	return fmt.Sprintf("acct-%d", m.rng.IntN(5))
}

func (m *booksModel) withdrawalID() string {
	m.nextID++
	return fmt.Sprintf("wd-%d", m.nextID)
}

func (m *booksModel) deposit(inst ledgertest.TokenInstrument, amt decimal.Decimal, account string) {
	if account == "" {
		m.add(m.unassigned, inst, amt)
		return
	}
	m.add(m.deposits, inst, amt)
	m.credits[account+"|"+inst.String()] = m.credits[account+"|"+inst.String()].Add(amt)
}

// step adds one random transaction (and the mints it needs).
func (m *booksModel) step() {
	switch k := m.rng.IntN(100); {
	case k < 8: // several of the treasury's operations in one transaction
		m.batch = &modelBatch{}
		for range 2 + m.rng.IntN(3) {
			m.stepK(28 + m.rng.IntN(97-28))
		}
		b := m.batch
		m.batch = nil
		if len(b.ops) == 0 {
			return
		}
		what := fmt.Sprintf("T batch of %d: %v", len(b.ops), b.what)
		if m.rng.IntN(2) == 0 {
			m.txs = append(m.txs, m.w.Tx(m.w.WrapOp(ledgertest.TokenWrap{Actor: treasury}, b.ops...)))
			what += " (wrapped)"
		} else {
			m.txs = append(m.txs, m.w.Tx(b.ops...))
		}
		m.log = append(m.log, what)
	case k < 12: // a depositor's wallet batch of deposits
		from := m.pick(m.depositors)
		type dep struct {
			inst     ledgertest.TokenInstrument
			amt, fee decimal.Decimal
			acct     string
			offer    bool
		}
		var deps []dep
		for range 2 + m.rng.IntN(2) {
			d := dep{inst: m.instrument(), amt: m.amount(300), fee: m.amount(1), acct: m.account(), offer: m.rng.IntN(3) == 0}
			m.fund(from, d.inst, d.amt.Add(d.fee).Mul(decimal.NewFromInt(4)))
			deps = append(deps, d)
		}
		var ops []ledgertest.TokenOp
		for _, d := range deps {
			spec := ledgertest.TransferSpec{Sender: from, Receiver: treasury, Amount: d.amt.String(), Instrument: d.inst, Reason: d.acct, Fee: d.fee.String()}
			if d.offer {
				op := m.w.OfferOp(spec)
				m.offersIn = append(m.offersIn, op.InstructionCID)
				ops = append(ops, op)
				continue
			}
			ops = append(ops, m.w.TransferOp(spec))
			m.deposit(d.inst, d.amt, d.acct)
		}
		m.txs = append(m.txs, m.w.Tx(m.w.WrapOp(ledgertest.TokenWrap{Actor: from}, ops...)))
		m.log = append(m.log, fmt.Sprintf("D deposit batch from %s: %+v", from, deps))
	case k < 14 && len(m.offersIn)+len(m.offersOut) >= 2: // the registry expires several offers at once
		var ops []ledgertest.TokenOp
		var cids []string
		for range 2 + m.rng.IntN(2) {
			if len(m.offersIn)+len(m.offersOut) == 0 {
				break
			}
			var cid string
			if i := m.rng.IntN(len(m.offersIn) + len(m.offersOut)); i < len(m.offersIn) {
				cid = m.offersIn[i]
				m.offersIn = slices.Delete(m.offersIn, i, i+1)
			} else {
				i -= len(m.offersIn)
				cid = m.offersOut[i]
				m.offersOut = slices.Delete(m.offersOut, i, i+1)
			}
			o, _ := m.w.TransferOffer(cid)
			if o.Sender == treasury {
				m.outcomeOf(o.Reason, "expired")
			}
			ops = append(ops, m.w.ExpireOp(cid))
			cids = append(cids, cid)
		}
		m.txs = append(m.txs, m.w.Tx(m.w.WrapOp(ledgertest.TokenWrap{Actor: m.instruments[0].Admin, Choice: "Registry_ExpireBatch"}, ops...)))
		m.log = append(m.log, fmt.Sprintf("A expire batch %v", cids))
	case k < 16: // a receiver accepts all its open withdrawal offers at once
		to := m.pick(m.receivers)
		var ops []ledgertest.TokenOp
		var cids []string
		for _, cid := range slices.Clone(m.offersOut) {
			o, _ := m.w.TransferOffer(cid)
			if o.Receiver != to {
				continue
			}
			m.offersOut = slices.DeleteFunc(m.offersOut, func(c string) bool { return c == cid })
			ops = append(ops, m.w.AcceptOp(cid))
			cids = append(cids, cid)
			m.add(m.paid, o.Instrument, o.Amount)
			m.add(m.fees, o.Instrument, o.Fee)
			m.outcomeOf(o.Reason, "accepted")
		}
		if len(ops) == 0 {
			return
		}
		m.txs = append(m.txs, m.w.Tx(m.w.WrapOp(ledgertest.TokenWrap{Actor: to}, ops...)))
		m.log = append(m.log, fmt.Sprintf("R accept batch of %s %v", to, cids))
	default:
		m.stepK(m.rng.IntN(100))
	}
}

// stepK adds the transaction of kind k (and the mints it needs); k in
// [28, 97) are the treasury's own operations, the only ones of a batch.
func (m *booksModel) stepK(k int) {
	inst := m.instrument()
	switch {
	case k < 18: // 1-step deposit
		from, amt := m.pick(m.depositors), m.amount(500)
		fee := decimal.Zero
		if m.rng.IntN(2) == 0 {
			fee = m.amount(1)
		}
		m.fund(from, inst, amt.Add(fee))
		acct := m.account()
		spec := ledgertest.TransferSpec{Sender: from, Receiver: treasury, Amount: amt.String(), Instrument: inst, Reason: acct}
		if fee.IsPositive() {
			spec.Fee = fee.String()
		}
		m.tx(fmt.Sprintf("D 1-step deposit %s %s from %s for %q fee %s", amt, inst, from, acct, fee), m.w.TransferOp(spec))
		m.deposit(inst, amt, acct)
	case k < 28: // deposit offer
		from, amt := m.pick(m.depositors), m.amount(500)
		fee := m.amount(1)
		m.fund(from, inst, amt.Add(fee))
		acct := m.account()
		op := m.w.OfferOp(ledgertest.TransferSpec{Sender: from, Receiver: treasury, Amount: amt.String(), Instrument: inst, Reason: acct, Fee: fee.String()})
		m.tx(fmt.Sprintf("D offer in %s %s from %s for %q: %s", amt, inst, from, acct, op.InstructionCID), op)
		m.offersIn = append(m.offersIn, op.InstructionCID)
	case k < 40 && len(m.offersIn) > 0: // a deposit offer ends
		i := m.rng.IntN(len(m.offersIn))
		cid := m.offersIn[i]
		m.offersIn = slices.Delete(m.offersIn, i, i+1)
		o, _ := m.w.TransferOffer(cid)
		switch m.outcome() {
		case 0:
			m.tx("T accept offer in "+cid, m.w.AcceptOp(cid))
			m.deposit(o.Instrument, o.Amount, o.Reason)
		case 1:
			m.tx("T reject offer in "+cid, m.w.RejectOp(cid))
		case 2:
			m.tx("D withdraw offer in "+cid, m.w.WithdrawOp(cid))
		case 3:
			m.tx("A expire offer in "+cid, m.w.ExpireOp(cid))
		}
	case k < 52: // 1-step withdrawal
		amt, fee := m.amount(100), m.amount(1)
		if m.unlocked(treasury, inst).LessThan(amt.Add(fee)) {
			if m.batch != nil {
				break
			}
			top := amt.Add(fee).Add(m.amount(200))
			m.tx(fmt.Sprintf("M mint %s %s to the treasury", top, inst), m.w.MintOp(treasury, top.String(), inst))
			m.add(m.mints, inst, top)
		}
		id := m.withdrawalID()
		to := m.pick(m.receivers)
		m.tx(fmt.Sprintf("T 1-step withdrawal %s %s %s to %s fee %s", id, amt, inst, to, fee),
			m.w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: to, Amount: amt.String(), Instrument: inst, Reason: id, Fee: fee.String()}))
		m.add(m.paid, inst, amt)
		m.add(m.fees, inst, fee)
		m.withdrawals[id] = string(withdrawal.StatusRecovered)
		m.sent[id] = modelTransfer{inst: inst, amount: amt, fee: fee, to: to}
	case k < 62: // withdrawal offer
		amt, fee := m.amount(100), m.amount(1)
		if m.unlocked(treasury, inst).LessThan(amt.Add(fee)) {
			break
		}
		id := m.withdrawalID()
		to := m.pick(m.receivers)
		self := m.rng.IntN(5) == 0
		if self { // an offer to itself: no withdrawal, whatever its reason
			to = treasury
			m.self[id] = true
		}
		op := m.w.OfferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: to, Amount: amt.String(), Instrument: inst, Reason: id, Fee: fee.String()})
		m.tx(fmt.Sprintf("T offer out %s %s %s to %s fee %s: %s", id, amt, inst, to, fee, op.InstructionCID), op)
		m.offersOut = append(m.offersOut, op.InstructionCID)
		if !self {
			m.withdrawals[id] = "offered"
			m.sent[id] = modelTransfer{inst: inst, amount: amt, fee: fee, to: to}
		}
	case k < 74 && len(m.offersOut) > 0: // a withdrawal offer ends
		i := m.rng.IntN(len(m.offersOut))
		cid := m.offersOut[i]
		m.offersOut = slices.Delete(m.offersOut, i, i+1)
		o, _ := m.w.TransferOffer(cid)
		out := m.outcome()
		if m.batch != nil {
			out = 2
		}
		switch out {
		case 0:
			m.tx("R accept offer out "+cid, m.w.AcceptOp(cid))
			if !m.self[o.Reason] {
				m.add(m.paid, o.Instrument, o.Amount)
			}
			m.add(m.fees, o.Instrument, o.Fee)
			m.outcomeOf(o.Reason, "accepted")
		case 1:
			m.tx("R reject offer out "+cid, m.w.RejectOp(cid))
			m.outcomeOf(o.Reason, "rejected")
		case 2:
			m.tx("T withdraw offer out "+cid, m.w.WithdrawOp(cid))
			m.outcomeOf(o.Reason, "withdrawn")
		case 3:
			m.tx("A expire offer out "+cid, m.w.ExpireOp(cid))
			m.outcomeOf(o.Reason, "expired")
		}
	case k < 80: // merge through a self-transfer, maybe with a fee
		hs := m.unlockedHoldings(inst)
		if len(hs) < 2 {
			break
		}
		n := 2 + m.rng.IntN(len(hs)-1)
		var inputs []string
		var total decimal.Decimal
		for _, h := range hs[:n] {
			inputs = append(inputs, h.ContractID)
			total = total.Add(h.Amount)
		}
		fee := decimal.Zero
		if m.rng.IntN(2) == 0 && total.GreaterThan(decimal.New(1, -8)) {
			fee = m.below(total.Div(decimal.NewFromInt(10)))
		}
		amt := total.Sub(fee)
		if m.rng.IntN(2) == 0 { // leave some change
			amt = m.below(amt)
		}
		spec := ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: amt.String(), Instrument: inst, InputHoldings: inputs}
		if m.rng.IntN(3) == 0 {
			spec.Reason = m.withdrawalID() // no withdrawal all the same
		}
		if fee.IsPositive() {
			spec.Fee = fee.String()
		}
		m.tx(fmt.Sprintf("T self-transfer %s %s of %d holdings fee %s", amt, inst, n, fee), m.w.TransferOp(spec))
		m.add(m.fees, inst, fee)
	case k < 85: // merge-split
		hs := m.unlockedHoldings(inst)
		if len(hs) == 0 {
			break
		}
		n := 1 + m.rng.IntN(len(hs))
		var inputs []string
		var total decimal.Decimal
		for _, h := range hs[:n] {
			inputs = append(inputs, h.ContractID)
			total = total.Add(h.Amount)
		}
		var outputs []string
		rest := total
		for range m.rng.IntN(3) {
			if rest.LessThan(decimal.New(2, -10)) {
				break
			}
			part := m.below(rest.Sub(decimal.New(1, -10)))
			outputs = append(outputs, part.String())
			rest = rest.Sub(part)
		}
		outputs = append(outputs, rest.String())
		m.tx(fmt.Sprintf("T merge-split %s %s into %v", total, inst, outputs), m.w.MergeSplitOp(treasury, inputs, outputs, inst))
	case k < 89: // burn
		bal := m.unlocked(treasury, inst)
		if !bal.IsPositive() {
			break
		}
		amt := m.below(bal)
		m.tx(fmt.Sprintf("T burn %s %s", amt, inst), m.w.BurnOp(treasury, amt.String(), inst))
		m.add(m.fees, inst, amt)
	case k < 94: // lock
		bal := m.unlocked(treasury, inst)
		if !bal.IsPositive() {
			break
		}
		amt := m.below(bal)
		lock := ledgertest.HoldingLock{Holders: []string{inst.Admin}, Context: "model"}
		if m.rng.IntN(2) == 0 {
			lock.Holders = append(lock.Holders, "custodian::1220k")
			lock.ExpiresAt = m.w.Now().Add(time.Hour)
		}
		op := m.w.LockOp(treasury, amt.String(), lock, inst)
		m.tx(fmt.Sprintf("T lock %s %s", amt, inst), op)
		m.locked = append(m.locked, op.Created[0].ContractID)
	case k < 97 && len(m.locked) > 0: // unlock
		i := m.rng.IntN(len(m.locked))
		cid := m.locked[i]
		m.locked = slices.Delete(m.locked, i, i+1)
		m.tx("T unlock "+cid, m.w.UnlockOp(cid))
	default: // mint to the treasury
		amt := m.amount(300)
		m.tx(fmt.Sprintf("M mint %s %s to the treasury", amt, inst), m.w.MintOp(treasury, amt.String(), inst))
		m.add(m.mints, inst, amt)
	}
}

func (m *booksModel) outcomeOf(id, outcome string) {
	if !m.self[id] {
		m.withdrawals[id] = outcome
	}
}

// outcome picks how an instruction ends: 0 accept, 1 reject, 2 withdraw,
// 3 expire; in a batch of the treasury's, accept or reject (an incoming
// one's are the treasury's choices).
func (m *booksModel) outcome() int {
	if m.batch != nil {
		return m.rng.IntN(2)
	}
	return m.rng.IntN(4)
}

func (m *booksModel) unlockedHoldings(inst ledgertest.TokenInstrument) []ledgertest.TokenHolding {
	var out []ledgertest.TokenHolding
	for _, h := range m.w.Holdings(treasury, inst) {
		if h.Lock == nil {
			out = append(out, h)
		}
	}
	m.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// ledgerHoldings is the treasury's active Holding contracts on the
// participant up to offset end: contract id -> amount, read from the
// interface views of the creates the treasury witnessed and not consumed.
func ledgerHoldings(t *testing.T, txs []*ledger.Transaction, end int64) (map[string]string, map[tokenstd.Instrument]decimal.Decimal) {
	t.Helper()
	live := map[string]tokenstd.HoldingView{}
	for _, tx := range txs {
		if tx.Offset > end {
			break
		}
		for _, ev := range tx.Events {
			switch e := ev.(type) {
			case *ledger.CreatedEvent:
				if !slices.Contains(e.WitnessParties, treasury) {
					continue
				}
				for _, v := range e.InterfaceViews {
					if v.InterfaceID.EntityName != "Holding" {
						continue
					}
					hv, err := tokenstd.DecodeHoldingView(v.Value)
					require.NoError(t, err)
					if hv.Owner == treasury {
						live[e.ContractID] = hv
					}
				}
			case *ledger.ExercisedEvent:
				if e.Consuming {
					delete(live, e.ContractID)
				}
			case *ledger.ArchivedEvent:
				delete(live, e.ContractID)
			}
		}
	}
	amounts := map[string]string{}
	balances := map[tokenstd.Instrument]decimal.Decimal{}
	for cid, hv := range live {
		amounts[cid] = hv.Amount.String()
		balances[hv.Instrument] = balances[hv.Instrument].Add(hv.Amount)
	}
	return amounts, balances
}

// booksRig is one Integration DB ingesting the model's ledger.
type booksRig struct {
	t      *testing.T
	b      *historyBundle
	client *ledger.Client
	h      *tokenstd.History
	store  *withdrawal.Store
	hdl    ingest.Handler
	// faults, if set, makes a batch fail after the handlers wrote, with a
	// serialization failure (the batch is rolled back and retried), when
	// it returns true.
	faults func() bool
	failed int
	// instruments is Config.Instruments of History and of the store.
	instruments []tokenstd.Instrument
}

func newBooksRig(t *testing.T, p *ledgertest.Participant, instruments []tokenstd.Instrument) *booksRig {
	t.Helper()
	b := setupHistory(t)
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	r := &booksRig{t: t, b: b, client: client, instruments: instruments}
	r.restart()
	return r
}

// restart makes the handlers anew, as a process that crashed and started
// again would.
func (r *booksRig) restart() {
	t := r.t
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := tokenstd.NewHistory(tokenstd.Config{Treasury: treasury, Schema: testSchema, Logger: log, Credit: creditor(), Instruments: r.instruments})
	require.NoError(t, err)
	store, err := withdrawal.NewStore(r.b.db, withdrawal.Config{Schema: testSchema, Treasury: treasury, Logger: log, Instruments: r.instruments})
	require.NoError(t, err)
	rec, err := withdrawal.NewReconciler(store, withdrawal.ReconcilerConfig{Logger: log, History: h})
	require.NoError(t, err)
	fault := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, _ *ingest.Batch) error {
		if r.faults == nil || !r.faults() {
			return nil
		}
		r.failed++
		_, err := tx.ExecContext(ctx, `DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END $$`)
		return err
	})
	r.h, r.store, r.hdl = h, store, ingest.Handlers(h, rec, fault)
}

// run ingests up to end in batches of at most batch transactions; with
// crashAfter > 0 it is killed (its context cancelled) once that many
// batches committed, wherever it then is.
func (r *booksRig) run(end int64, batch, crashAfter int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.b.ctx, 30*time.Second)
	defer cancel()
	crash, kill := context.WithCancel(ctx)
	defer kill()
	var commits int
	ing, err := ingest.New(r.b.db, r.client, ingest.Config{
		Parties: []string{treasury}, Schema: testSchema, Handler: r.hdl, EndOffset: end, MaxBatchSize: batch,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnCommit: func(ingest.Stats) {
			if commits++; commits == crashAfter {
				kill()
			}
		},
	})
	require.NoError(r.t, err)
	err = ing.Run(crash)
	require.NoError(r.t, ctx.Err(), "Run hung (returned %v)", err)
	if crash.Err() == nil {
		require.NoError(r.t, err, "ingesting up to offset %d", end)
	}
}

func (r *booksRig) checkpoint() int64 {
	r.t.Helper()
	var off int64
	require.NoError(r.t, r.b.db.GetContext(r.b.ctx, &off, `SELECT ledger_offset FROM tokens.checkpoint`))
	return off
}

// check compares the books with the ledger's truth up to offset end: the
// live holdings, the balances, and the entries' sum per instrument.
func (r *booksRig) check(txs []*ledger.Transaction, end int64, where string) {
	t := r.t
	t.Helper()
	ctx, db := r.b.ctx, r.b.db
	wantHoldings, wantBalances := ledgerHoldings(t, txs, end)

	live, err := tokenstd.LiveHoldings(ctx, db, testSchema)
	require.NoError(t, err)
	gotHoldings := map[string]string{}
	for _, h := range live {
		gotHoldings[h.ContractID] = h.Amount.String()
	}
	require.Equal(t, wantHoldings, gotHoldings, "%s: live holdings (contract id -> amount) differ from the ledger's", where)

	balances, err := tokenstd.Balances(ctx, db, testSchema)
	require.NoError(t, err)
	requireSameAmounts(t, maps.Clone(wantBalances), maps.Clone(balances), where+": balances against the ledger's holdings")

	entries, err := tokenstd.ListEntries(ctx, db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	sums := map[tokenstd.Instrument]decimal.Decimal{}
	booked := map[tokenstd.Instrument]decimal.Decimal{}
	for _, e := range entries {
		sums[e.Instrument] = sums[e.Instrument].Add(e.Amount)
		var d decimal.Decimal
		switch e.Kind {
		case tokenstd.KindDeposit, tokenstd.KindDepositUnassigned, tokenstd.KindMint, tokenstd.KindOther:
			d = e.Amount
		case tokenstd.KindWithdrawal:
			d = e.Transferred.Neg()
		}
		booked[e.Instrument] = booked[e.Instrument].Add(d).Sub(e.Fee)
	}
	requireSameAmounts(t, maps.Clone(wantBalances), sums, where+": the entries' amounts against the balance change")
	requireSameAmounts(t, maps.Clone(wantBalances), booked, where+": deposits + mints + other − withdrawals − fees against the balance change")
}

// checkModel compares the books with what the model says each kind of
// activity should book.
func (r *booksRig) checkModel(m *booksModel) {
	t := r.t
	t.Helper()
	ctx, db := r.b.ctx, r.b.db
	entries, err := tokenstd.ListEntries(ctx, db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	deposits := map[tokenstd.Instrument]decimal.Decimal{}
	paid := map[tokenstd.Instrument]decimal.Decimal{}
	fees := map[tokenstd.Instrument]decimal.Decimal{}
	mints := map[tokenstd.Instrument]decimal.Decimal{}
	unassigned := map[tokenstd.Instrument]decimal.Decimal{}
	for _, e := range entries {
		switch e.Kind {
		case tokenstd.KindDeposit:
			deposits[e.Instrument] = deposits[e.Instrument].Add(e.Amount)
		case tokenstd.KindWithdrawal:
			paid[e.Instrument] = paid[e.Instrument].Add(e.Transferred)
		case tokenstd.KindMint:
			mints[e.Instrument] = mints[e.Instrument].Add(e.Amount)
		case tokenstd.KindDepositUnassigned:
			unassigned[e.Instrument] = unassigned[e.Instrument].Add(e.Amount)
		case tokenstd.KindOther, tokenstd.KindFailed:
			t.Errorf("unexpected %s entry: %+v", e.Kind, e)
		}
		fees[e.Instrument] = fees[e.Instrument].Add(e.Fee)
	}
	conv := func(in map[ledgertest.TokenInstrument]decimal.Decimal) map[tokenstd.Instrument]decimal.Decimal {
		out := map[tokenstd.Instrument]decimal.Decimal{}
		for k, v := range in {
			out[toInstrument(k)] = v
		}
		return out
	}
	requireSameAmounts(t, conv(m.deposits), deposits, "deposits booked")
	requireSameAmounts(t, conv(m.unassigned), unassigned, "unassigned deposits booked")
	requireSameAmounts(t, conv(m.paid), paid, "withdrawals paid out")
	requireSameAmounts(t, conv(m.fees), fees, "fees")
	requireSameAmounts(t, conv(m.mints), mints, "mints")

	var credits []struct {
		Account  string `db:"account"`
		UpdateID string `db:"update_id"`
		NodeID   int32  `db:"node_id"`
		Amount   string `db:"amount"`
	}
	require.NoError(t, db.SelectContext(ctx, &credits, `SELECT account, update_id, node_id, amount::text AS amount FROM public.credit`))
	byEntry := map[string]tokenstd.Instrument{}
	for _, e := range entries {
		if e.Kind == tokenstd.KindDeposit {
			byEntry[fmt.Sprint(e.UpdateID, "/", e.NodeID)] = e.Instrument
		}
	}
	got := map[string]decimal.Decimal{}
	for _, c := range credits {
		d, err := decimal.NewFromString(c.Amount)
		require.NoError(t, err)
		inst := byEntry[fmt.Sprint(c.UpdateID, "/", c.NodeID)]
		k := c.Account + "|" + inst.ID + "@" + inst.Admin
		got[k] = got[k].Add(d)
	}
	want := map[string]decimal.Decimal{}
	for k, v := range m.credits {
		want[k] = v
	}
	require.Equal(t, len(want), len(got), "credits per account: want %v, got %v", want, got)
	for k, v := range want {
		require.True(t, v.Equal(got[k]), "credit of %s: want %s, got %s", k, v, got[k])
	}

	// Every withdrawal id the treasury sent has a row, paid out exactly
	// when the model paid it.
	var ids []string
	require.NoError(t, db.SelectContext(ctx, &ids, `SELECT id FROM tokens.withdrawal ORDER BY id`))
	var want2 []string
	for id := range m.withdrawals {
		want2 = append(want2, id)
	}
	slices.Sort(want2)
	require.Equal(t, want2, ids, "withdrawal rows: the treasury's transfers to others, and no others")
	for id, outcome := range m.withdrawals {
		w, err := r.store.Get(ctx, id)
		require.NoError(t, err, "withdrawal %s (%s)", id, outcome)
		paidOut := outcome == "accepted" || outcome == string(withdrawal.StatusRecovered)
		require.Equal(t, paidOut, w.Status.PaidOut(), "withdrawal %s: model says %s, store says %s", id, outcome, w.Status)
		// Recovered from the ledger (no request was made): paid out ones
		// are recovered, the others where their instruction stands.
		wantStatus := map[string]withdrawal.Status{"accepted": withdrawal.StatusRecovered, "recovered": withdrawal.StatusRecovered,
			"offered": withdrawal.StatusPendingAcceptance, "rejected": withdrawal.StatusRejected,
			"withdrawn": withdrawal.StatusWithdrawn, "expired": withdrawal.StatusExpired}[outcome]
		require.Equal(t, wantStatus, w.Status, "withdrawal %s: model says %s", id, outcome)
		sent := m.sent[id]
		require.Equal(t, toInstrument(sent.inst), w.Instrument, "withdrawal %s: instrument", id)
		require.Equal(t, sent.to, w.Receiver, "withdrawal %s: receiver", id)
		if paidOut {
			require.True(t, sent.amount.Equal(w.Transferred), "withdrawal %s: transferred %s, the ledger %s", id, w.Transferred, sent.amount)
			require.True(t, sent.fee.Equal(w.Fee), "withdrawal %s: fee %s, the ledger %s", id, w.Fee, sent.fee)
		} else {
			require.True(t, w.Transferred.IsZero(), "withdrawal %s (%s): transferred %s", id, w.Status, w.Transferred)
		}
	}
	// Each withdrawal entry is the model's transfer.
	for _, e := range entries {
		if e.Kind != tokenstd.KindWithdrawal {
			continue
		}
		sent, ok := m.sent[e.WithdrawalID]
		require.True(t, ok, "withdrawal entry of %q: no such withdrawal", e.WithdrawalID)
		require.Equal(t, toInstrument(sent.inst), e.Instrument, "withdrawal entry %s", e.WithdrawalID)
		require.Equal(t, sent.to, e.Counterparty, "withdrawal entry %s: counterparty", e.WithdrawalID)
		require.True(t, sent.amount.Equal(e.Transferred) && sent.fee.Equal(e.Fee) && e.Amount.Equal(sent.amount.Add(sent.fee).Neg()),
			"withdrawal entry %s: transferred %s fee %s amount %s, the model's %s and %s", e.WithdrawalID, e.Transferred, e.Fee, e.Amount, sent.amount, sent.fee)
	}
}

// booksState is everything ingestion writes, bar sequence numbers and
// write times.
func (r *booksRig) state() []string {
	r.t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT coalesce(json_agg(h ORDER BY contract_id), '[]')::text FROM tokens.token_holding h`,
		`SELECT coalesce(json_agg(i ORDER BY contract_id), '[]')::text FROM tokens.token_instruction i`,
		`SELECT coalesce(json_agg(to_jsonb(e) - 'id' ORDER BY update_id, node_id, kind, instrument_admin, instrument_id), '[]')::text FROM tokens.token_history e`,
		`SELECT coalesce(json_agg(c ORDER BY update_id, node_id), '[]')::text FROM public.credit c`,
		`SELECT coalesce(json_agg(json_build_array(id, status, amount::text) ORDER BY id), '[]')::text FROM tokens.withdrawal`,
		`SELECT count(*)::text FROM tokens.review_transaction`,
	} {
		var s string
		require.NoError(r.t, r.b.db.GetContext(r.b.ctx, &s, q))
		out = append(out, s)
	}
	return out
}

func runBooksModel(t *testing.T, seed uint64, steps int) {
	m := newBooksModel(seed)
	for range steps {
		m.step()
	}
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(m.txs...)
	require.NoError(t, err)
	txs := p.Transactions()
	end := p.LedgerEnd()
	describe := func() string {
		s := fmt.Sprintf("seed %d (rerun: TXHISTORY_MODEL_SEED=%d TXHISTORY_MODEL_SEEDS=1); history:", seed, seed)
		for i, l := range m.log {
			s += fmt.Sprintf("\n  %d: %s", txs[i].Offset, l)
		}
		return s
	}
	defer func() {
		if t.Failed() {
			t.Log(describe())
		}
	}()

	// One clean run.
	ref := newBooksRig(t, p, nil)
	ref.run(end, 1+m.rng.IntN(32), 0)
	ref.check(txs, end, "clean run")
	ref.checkModel(m)
	t.Log(ref.kinds())
	want := ref.state()

	// Crash and resume at random batch boundaries, with new handlers (a
	// new process) each time, checking the books at each stop.
	// This one lists the instruments, as an exchange should.
	var listed []tokenstd.Instrument
	for _, inst := range m.instruments {
		listed = append(listed, toInstrument(inst))
	}
	r := newBooksRig(t, p, listed)
	var mu sync.Mutex
	faults := rand.New(rand.NewPCG(seed, 0xfa)) // their timing is not the seed's
	r.faults = func() bool {
		mu.Lock()
		defer mu.Unlock()
		return faults.IntN(8) == 0
	}
	for off := int64(0); off < end; {
		if m.rng.IntN(2) == 0 { // killed after some batches
			r.run(end, 1+m.rng.IntN(8), 1+m.rng.IntN(6))
			off = r.checkpoint()
		} else { // stopped at an end offset
			stop := min(end, off+1+m.rng.Int64N(end/4+1))
			r.run(stop, 1+m.rng.IntN(8), 0)
			off = r.checkpoint()
			require.Equal(t, stop, off, "checkpoint after a run up to %d", stop)
		}
		r.check(txs, off, fmt.Sprintf("stopped at offset %d", off))
		r.restart()
	}
	r.checkModel(m)
	t.Logf("%d batches failed and were retried", r.failed)
	got := r.state()
	for i, name := range []string{"holdings", "instructions", "history", "credits", "withdrawals", "set aside"} {
		require.Equal(t, want[i], got[i], "%s differ between a clean run and one stopped and resumed", name)
	}
}

func (r *booksRig) kinds() string {
	var s string
	require.NoError(r.t, r.b.db.GetContext(r.b.ctx, &s, `SELECT string_agg(kind || '=' || n, ' ') FROM (SELECT kind, count(*) n FROM tokens.token_history GROUP BY kind ORDER BY kind) x`))
	var w string
	require.NoError(r.t, r.b.db.GetContext(r.b.ctx, &w, `SELECT coalesce(string_agg(status || '=' || n, ' '), '') FROM (SELECT status, count(*) n FROM tokens.withdrawal GROUP BY status ORDER BY status) x`))
	return s + " | " + w
}
