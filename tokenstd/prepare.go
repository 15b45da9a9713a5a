package tokenstd

import (
	"slices"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
)

var _ ingest.Preparer = (*History)(nil)

// speculation is what History.Prepare works out for a transaction ahead of
// its batch: its entries as classified against an empty holding set, and
// the contract ids that classification looked up (each answered "not a
// treasury holding" or "no pending instruction").
type speculation struct {
	by       *History // the handler that made it
	updateID string   // the transaction it was made for
	offset   int64
	entries  []Entry
	holdings []string
	instrs   []string
}

// recordingLookup knows no holding and no instruction, and records what it
// was asked.
type recordingLookup struct{ holdings, instrs []string }

func (l *recordingLookup) LookupHolding(cid string) (Holding, bool, error) {
	l.holdings = append(l.holdings, cid)
	return Holding{}, false, nil
}

func (l *recordingLookup) LookupInstruction(cid string) (Instruction, bool, error) {
	l.instrs = append(l.instrs, cid)
	return Instruction{}, false, nil
}

// Prepare implements ingest.Preparer: it classifies t against an empty
// holding set, from the Ingester's stream-reading goroutine, while earlier
// batches are being written. HandleBatch uses the result for t when none of
// the contracts the classification looked up turns out to be a treasury
// holding or a pending instruction (a deposit, an incoming offer), and
// classifies t again otherwise (a withdrawal spending treasury holdings).
// A transaction Prepare cannot classify is left to HandleBatch, which
// reports the error in its place.
//
// Classification is a function of the transaction and of the lookups'
// answers; when every answer HandleBatch's holding set gives is the one
// Prepare assumed, Classify would return the prepared entries. This is why
// Config.Account must be a pure function: it is called from Prepare too.
func (h *History) Prepare(t *ledger.Transaction) any {
	if t == nil {
		return nil
	}
	var l recordingLookup
	entries, err := h.classifier.Classify(t, &l)
	if err != nil || storable(t, entries) != nil {
		return nil
	}
	return &speculation{by: h, updateID: t.UpdateID, offset: t.Offset, entries: entries, holdings: l.holdings, instrs: l.instrs}
}

// prepared returns the entries h's Prepare worked out for t if they hold
// against set, a copy that the caller may change.
func (h *History) prepared(b *ingest.Batch, t *ledger.Transaction, set *HoldingSet) ([]Entry, bool) {
	s, ok := b.Prepared(t).(*speculation)
	if !ok || s.by != h || s.updateID != t.UpdateID || s.offset != t.Offset {
		return nil, false
	}
	for _, cid := range s.holdings {
		if _, found, _ := set.LookupHolding(cid); found {
			return nil, false
		}
	}
	for _, cid := range s.instrs {
		if _, found, _ := set.LookupInstruction(cid); found {
			return nil, false
		}
	}
	return slices.Clone(s.entries), true
}
