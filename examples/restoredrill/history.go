package main

import (
	"fmt"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
)

// Packages of the scripted history: the amulet package the node had before
// the backup, and a token package uploaded after it.
var (
	amulet = ledger.MustParseIdentifier("1220aa11aa11aa11:Splice.Amulet:Amulet")
	token  = ledger.MustParseIdentifier("1220bb22bb22bb22:Acme.Token:Holding")
)

// history is the drill's scripted ledger, the same on the exchange's node
// and on its undisturbed twin: fixed update ids and record times.
type history struct {
	n        int
	backupAt int
	stopAt   int // ingestion stops after this transaction
	extra    int // transactions appended after the restore
}

func newHistory(n int) *history {
	return &history{n: n, backupAt: n * 4 / 10, stopAt: n*9/10 + 2}
}

// sharesTime reports whether transaction i is one of the five that share
// the record time of the first of them (#stopAt-1 to #stopAt+3).
func (h *history) sharesTime(i int) bool { return i >= h.stopAt-1 && i <= h.stopAt+3 }

func (h *history) updateID(i int) string { return fmt.Sprintf("drill-%06d", i) }

func (h *history) recordTime(i int) time.Time {
	if h.sharesTime(i) {
		i = h.stopAt - 1
	}
	return ledgertest.DefaultStartTime.Add(time.Duration(i) * time.Millisecond)
}

// tx is transaction i (from 1). Every seventh belongs to another party,
// except inside the group sharing a record time; after the backup every
// third one uses the token package.
func (h *history) tx(i int) *ledger.Transaction {
	party := treasury
	if i%7 == 3 && !h.sharesTime(i) {
		party = "someone-else::1220"
	}
	tmpl, pkg := amulet, "splice-amulet"
	if i > h.backupAt && i%3 == 0 {
		tmpl, pkg = token, "acme-token"
	}
	return &ledger.Transaction{
		UpdateID:   h.updateID(i),
		CommandID:  fmt.Sprintf("cmd-%d", i),
		RecordTime: h.recordTime(i),
		Events: []ledger.Event{&ledger.CreatedEvent{
			ContractID:      fmt.Sprintf("00drill%06d", i),
			TemplateID:      tmpl,
			PackageName:     pkg,
			CreateArguments: ledger.Record(nil, ledger.F("owner", ledger.Party(party)), ledger.F("n", ledger.Int64(int64(i)))),
			WitnessParties:  []string{party},
			Signatories:     []string{party},
		}},
	}
}

// play appends transactions from+1 to to.
func (h *history) play(p *ledgertest.Participant, from, to int) error {
	for i := from + 1; i <= to; i++ {
		if _, err := p.Append(h.tx(i)); err != nil {
			return err
		}
	}
	return nil
}

// extend appends k transactions after the scripted ones, as the exchange
// keeps transacting after the restore.
func (h *history) extend(p *ledgertest.Participant, k int) error {
	if err := h.play(p, h.n+h.extra, h.n+h.extra+k); err != nil {
		return err
	}
	h.extra += k
	return nil
}

// replayExtra appends the transactions extend appended to another participant.
func (h *history) replayExtra(p *ledgertest.Participant) error {
	return h.play(p, h.n, h.n+h.extra)
}
