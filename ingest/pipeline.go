package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
)

// pipeline commits a session's batches, starting each one's SQL
// transaction (BEGIN and the dedup claim) while the batch before it is
// still being written and committed on another connection: that work no
// longer waits for the previous commit.
//
// Only the start overlaps: the Handler's HandleBatch, the checkpoint and
// COMMIT of a batch run once the batch before it has committed, so handlers
// see every earlier batch's effects, as without the pipeline. The
// checkpoint's compare-and-set (checkpoint.Store.AdvanceTx) makes a batch
// fail if the one before it did not commit, so a batch can never commit
// past a gap.
//
// A batch whose background finish fails is committed again the slow way
// (Ingester.commit: retries, and splitting under PoisonSetAside), after the
// next batch's open transaction is rolled back; the next batch then starts
// again. A Handler's retryable ledger error goes back to Run instead, which
// retries it as a stream fault.
type pipeline struct {
	ing    *Ingester
	ctx    context.Context
	budget *byteBudget
	// fly is the batch being finished in the background, if any.
	fly *inflight
	// off disables the overlap (a database handle with too few
	// connections for two batches and the lock).
	off        bool
	progressed bool // a batch committed
}

// inflight is a started batch whose finish runs in a goroutine of its own.
type inflight struct {
	st   *started
	done chan error // the result of finish; buffered
}

func newPipeline(ctx context.Context, ing *Ingester, budget *byteBudget) *pipeline {
	// Two batches and the advisory lock's session each hold a connection.
	max := ing.db.Stats().MaxOpenConnections
	return &pipeline{ing: ing, ctx: ctx, budget: budget, off: max > 0 && max < 3}
}

// tip is the checkpoint the next batch follows: the one the batch in
// flight commits, else the committed one.
func (p *pipeline) tip() checkpoint.Checkpoint {
	if p.fly != nil {
		return p.fly.st.b.cp
	}
	return p.ing.cp
}

// done is the channel on which the batch in flight reports, nil if none.
func (p *pipeline) done() <-chan error {
	if p.fly == nil {
		return nil
	}
	return p.fly.done
}

// submit commits b: it starts b's transaction, settles the batch in
// flight, and leaves b finishing in the background.
func (p *pipeline) submit(b *builder) error {
	ing := p.ing
	if p.off {
		if err := ing.commit(p.ctx, b, nil); err != nil {
			return err
		}
		p.accepted(b)
		return nil
	}
	st, err := ing.start(p.ctx, b, p.fly != nil, false)
	// Settling the batch in flight calls OnCommit, the caller's code:
	// should it panic (or call runtime.Goexit), st's transaction must not
	// stay open on the pool, its claims of b's update ids holding back
	// every ingester after this Run (a standby's too) for as long as the
	// process lives.
	settling := true
	defer func() {
		if settling && st != nil {
			_ = st.tx.Rollback()
		}
	}()
	// On an error the database may be down: settle the batch in flight,
	// then take the slow path, which counts this attempt (MaxAttempts).
	var slow bool
	var serr error
	if p.fly != nil {
		ferr := <-p.fly.done
		if ferr != nil && st != nil {
			// The batch in flight failed and is committed again below:
			// b's open transaction must not hold its dedup claim meanwhile
			// (an update id the stream repeated in both would make that
			// retry wait for b, and b for it). b starts again after it.
			_ = st.tx.Rollback()
			st = nil
		}
		slow, serr = p.settle(ferr, true)
	}
	settling = false
	if serr != nil {
		if st != nil {
			_ = st.tx.Rollback()
		}
		return serr
	}
	if err == nil && slow {
		// The batch before went the slow way: what st read may predate
		// it. Start again, after it.
		if st != nil {
			_ = st.tx.Rollback()
		}
		st, err = ing.start(p.ctx, b, false, false)
	}
	if err != nil {
		if IsTransientDBError(err) {
			// An attempt MaxAttempts counts (commit): a fault counted, as
			// settle counts the one of a batch in flight.
			ing.stats.errorOf(err)
		}
		if ferr := ing.commit(p.ctx, b, err); ferr != nil {
			return ferr
		}
		p.accepted(b)
		return nil
	}
	f := &inflight{st: st, done: make(chan error, 1)}
	p.fly = f
	go func() { f.done <- ing.finish(p.ctx, st, false) }()
	return nil
}

// wait waits for the batch in flight, if any, and settles it. With retry,
// a batch that failed is committed the slow way, and slow says so;
// without, it is dropped (it was rolled back) and its error returned.
func (p *pipeline) wait(retry bool) (slow bool, err error) {
	if p.fly == nil {
		return false, nil
	}
	return p.settle(<-p.fly.done, retry)
}

// settle handles the result of the batch in flight, received from done.
func (p *pipeline) settle(ferr error, retry bool) (slow bool, err error) {
	f := p.fly
	p.fly = nil
	ing := p.ing
	b := f.st.b
	if ferr == nil {
		ing.committed(b, f.st.batch.Skipped, time.Since(f.st.begun))
		p.accepted(b)
		return false, nil
	}
	if !retry || p.ctx.Err() != nil {
		if p.ctx.Err() != nil {
			return false, p.ctx.Err()
		}
		return false, ferr
	}
	var he *handlerError
	transient := IsTransientDBError(ferr)
	if transient || !errors.As(ferr, &he) {
		if transient {
			// An attempt MaxAttempts counts (commit): a fault counted
			// as commit counts its own attempts.
			ing.stats.errorOf(ferr)
		}
		ing.log.Warn("ingest: batch failed, committing it again", "from_offset", b.prev.Offset, "to_offset", b.cp.Offset, "err", redactErr(ferr))
	}
	if err := ing.commit(p.ctx, b, ferr); err != nil {
		// Run counts the error it gets: a fault that is not a database
		// one (a moved checkpoint) met again by the retry is that one.
		return true, err
	}
	if !transient && !errors.As(ferr, &he) {
		// The retry committed: the fault it recovered from is counted
		// here, once.
		ing.stats.errorOf(ferr)
	}
	p.accepted(b)
	return true, nil
}

// accepted releases a committed batch's bytes.
func (p *pipeline) accepted(b *builder) {
	p.progressed = true
	p.budget.release(b.bytes)
}
