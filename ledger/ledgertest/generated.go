package ledgertest

// Large ledgers for benchmarks and soak tests: transactions made on demand
// (AppendFunc).

import (
	"errors"
	"fmt"
	"time"

	"github.com/cantonx/txhistory/ledger"
)

// AppendFunc appends n transactions whose content is made on demand by gen:
// gen(i), for i in [0, n), is called whenever a stream, GetUpdateById or
// Transactions reaches the i-th of them, never by AppendFunc itself. The
// participant keeps only what it assigns to each transaction, as Append does
// for a transaction that leaves these fields empty: an offset, an update id
// "upd-<n>", the default synchronizer, and a record time 1ms after the
// latest one (the effective time equals it). A million transactions take a
// few hundred MB rather than many GB.
//
// gen must be safe for concurrent use and return an equal transaction every
// time it is called with the same i. Of what it returns only the events, the
// command id and the workflow id count: its offset, update id, synchronizer
// and times are replaced by the assigned ones.
//
// AppendFunc wakes tailing streams once, after all n are appended. As with
// Append, while a Restore's recovery is pending the transactions queue
// behind the recovered ones.
func (p *Participant) AppendFunc(n int, gen func(i int) *ledger.Transaction) error {
	if n < 0 || gen == nil {
		return fmt.Errorf("ledgertest: AppendFunc: invalid count %d or nil generator", n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("ledgertest: AppendFunc on a closed participant")
	}
	sync := p.cfg.synchronizer
	last, ok := p.sequenced[sync]
	ids := map[string]bool{}
	for i := range n {
		t := p.cfg.startTime
		if ok {
			t = last.Add(time.Millisecond)
		}
		last, ok = t, true
		tx := &ledger.Transaction{UpdateID: p.nextUpdateIDLocked(ids), SynchronizerID: sync, RecordTime: t, EffectiveAt: t}
		p.sequenceLocked(&entry{sync: sync, time: t, tx: tx, gen: gen, genIdx: i})
	}
	p.notifyLocked()
	return nil
}

// transaction returns the entry's transaction, making its content if it was
// appended by AppendFunc. The result must not be modified.
func (e *entry) transaction() *ledger.Transaction {
	if e.gen == nil || e.tx == nil {
		return e.tx
	}
	made := e.gen(e.genIdx)
	tx := *e.tx
	tx.CommandID, tx.WorkflowID = made.CommandID, made.WorkflowID
	tx.Events = made.Events
	return cloneTx(&tx, e.offset)
}
