package tokenstd

import (
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// HoldingSet is an in-memory holding set of the treasury: its holdings,
// live and archived, and its pending transfer instructions. It implements
// HoldingLookup and InstructionLookup, so a sequence of transactions can be
// classified without a database:
//
//	set := tokenstd.NewHoldingSet()
//	for _, tx := range txs {
//		entries, err := tokenstd.Classify(tx, treasury, set)
//		if err != nil {
//			return err
//		}
//		set.Apply(entries)
//	}
//	balances := set.Balances()
//
// The zero HoldingSet is an empty set, as NewHoldingSet() is. A
// HoldingSet is not safe for concurrent use. It keeps every holding it is
// given or sees created, archived ones too (a lookup must know them), and
// so grows with the history: it suits tests, tools and bounded replays. A
// service ingesting for months keeps the holdings in PostgreSQL with the
// History handler instead.
type HoldingSet struct {
	holdings     map[string]Holding
	instructions map[string]Instruction
}

// NewHoldingSet returns a set holding the given holdings, for instance the
// treasury's holdings read from an active contract set snapshot.
func NewHoldingSet(holdings ...Holding) *HoldingSet {
	s := &HoldingSet{holdings: map[string]Holding{}, instructions: map[string]Instruction{}}
	for _, h := range holdings {
		s.holdings[h.ContractID] = h
	}
	return s
}

// AddInstruction adds a pending transfer instruction.
func (s *HoldingSet) AddInstruction(in Instruction) {
	s.init()
	s.instructions[in.ContractID] = in
}

// init makes the maps of a zero HoldingSet, which is an empty set.
func (s *HoldingSet) init() {
	if s.holdings == nil {
		s.holdings = map[string]Holding{}
	}
	if s.instructions == nil {
		s.instructions = map[string]Instruction{}
	}
}

// LookupHolding implements HoldingLookup.
func (s *HoldingSet) LookupHolding(cid string) (Holding, bool, error) {
	h, ok := s.holdings[cid]
	return h, ok, nil
}

// LookupInstruction implements InstructionLookup. It finds pending
// instructions only.
func (s *HoldingSet) LookupInstruction(cid string) (Instruction, bool, error) {
	in, ok := s.instructions[cid]
	return in, ok, nil
}

// Apply updates the set with the entries of one classified transaction:
// created holdings become live, archived ones are marked archived (and
// kept, so that lookups of them still answer), offers add pending
// instructions and outcomes remove them.
func (s *HoldingSet) Apply(entries []Entry) {
	s.init()
	for _, e := range entries {
		for _, h := range e.Created {
			if _, ok := s.holdings[h.ContractID]; !ok {
				s.holdings[h.ContractID] = h
			}
		}
		for _, h := range e.Archived {
			cur, ok := s.holdings[h.ContractID]
			if !ok {
				cur = h
			}
			if cur.Archived == nil {
				cur.Archived = h.Archived
			}
			s.holdings[h.ContractID] = cur
		}
		switch {
		case e.Instruction != nil:
			s.instructions[e.Instruction.ContractID] = *e.Instruction
			if e.Instruction.Replaces != "" {
				delete(s.instructions, e.Instruction.Replaces)
			}
		case e.InstructionCID != "":
			delete(s.instructions, e.InstructionCID)
		}
	}
}

// Live returns the live holdings, ordered by instrument, then contract id.
func (s *HoldingSet) Live() []Holding {
	var out []Holding
	for _, h := range s.holdings {
		if h.Archived == nil {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b Holding) int {
		if c := compareInstrument(a.Instrument, b.Instrument); c != 0 {
			return c
		}
		return strings.Compare(a.ContractID, b.ContractID)
	})
	return out
}

// Pending returns the pending transfer instructions, ordered by contract id.
func (s *HoldingSet) Pending() []Instruction {
	out := make([]Instruction, 0, len(s.instructions))
	for _, cid := range sortedKeys(s.instructions) {
		out = append(out, s.instructions[cid])
	}
	return out
}

// Balances returns the sum of the live holdings per instrument, locked
// ones included. Instruments without live holdings are absent.
func (s *HoldingSet) Balances() map[Instrument]decimal.Decimal {
	out := map[Instrument]decimal.Decimal{}
	for _, h := range s.holdings {
		if h.Archived == nil {
			out[h.Instrument] = out[h.Instrument].Add(h.Amount)
		}
	}
	return out
}

func compareInstrument(a, b Instrument) int {
	if c := strings.Compare(a.Admin, b.Admin); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}
