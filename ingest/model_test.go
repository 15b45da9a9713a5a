package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// The model-based test: a random history (transactions on several
// synchronizers, record times that repeat, update ids that come again at
// new offsets, OffsetCheckpoints at new offsets and repeating the offset of
// the transaction before them) is ingested by a sequence of Ingesters that
// are crashed (Run's context cancelled), stopped and run again, under
// random stream faults and database faults (statements that fail, COMMIT
// replies lost, BEGINs refused, backends terminated), with random batch
// sizes, pipelining on and off, both poison policies, and sometimes a
// second Ingester (waiting for the lock, or taking none) and a bounded
// catch-up (EndOffset) beside the first. After every phase the database
// must hold each update id the ledger delivered up to the stored
// checkpoint exactly once, at the offset it was first delivered at, and
// nothing beyond it; at the end the checkpoint must be the ledger's end and
// record times.
//
// TestModelExactlyOnce runs modelSeedsDefault seeds; TXHISTORY_MODEL_SEEDS=n
// runs n, from TXHISTORY_MODEL_SEED (default 1) on. A failure names its
// seed; TXHISTORY_MODEL_SEED=<seed> TXHISTORY_MODEL_SEEDS=1 runs it again
// (the schedule of faults is the seed's, their timing is not);
// TXHISTORY_MODEL_DUMP=1 dumps the goroutines when a wait times out.
const modelSeedsDefault = 5

func TestModelExactlyOnce(t *testing.T) {
	n, first := modelSeedsDefault, uint64(1)
	if s := os.Getenv("TXHISTORY_MODEL_SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("TXHISTORY_MODEL_SEEDS: %v", err)
		}
		n = v
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
			runModel(t, seed)
		})
	}
}

// modelItem is one item of the model ledger: a transaction or an
// OffsetCheckpoint.
type modelItem struct {
	tx *ledger.Transaction
	cp *ledger.OffsetCheckpoint
}

func (it modelItem) offset() int64 {
	if it.tx != nil {
		return it.tx.Offset
	}
	return it.cp.Offset
}

// modelLedger is a participant's Update and State services over a history
// the test scripts item by item. Unlike ledgertest.Participant it lets an
// update id come again at a new offset, as a history after an ACS import
// or a party replication does. Its faults are ledgertest's kinds: a stream
// broken with UNAVAILABLE after some items, a stream ended with status OK,
// calls refused with UNAVAILABLE.
type modelLedger struct {
	lapiv2.UnimplementedUpdateServiceServer
	lapiv2.UnimplementedStateServiceServer

	mu      sync.Mutex
	items   []modelItem
	changed chan struct{} // closed and replaced on every append
	// dropAfter, if positive, breaks the next stream with UNAVAILABLE
	// after that many items (endAfter: ends it with status OK).
	dropAfter, endAfter int
	failNext            int // GetUpdates and GetLedgerEnd calls to refuse
}

func newModelLedger() *modelLedger { return &modelLedger{changed: make(chan struct{})} }

func (m *modelLedger) append(items ...modelItem) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items = append(m.items, items...)
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *modelLedger) endLocked() int64 {
	if len(m.items) == 0 {
		return 0
	}
	return m.items[len(m.items)-1].offset()
}

func (m *modelLedger) refuseLocked() error {
	if m.failNext > 0 {
		m.failNext--
		return ledgertest.StatusError(codes.Unavailable, ledgertest.ErrorIDInjectedFault, "injected", nil)
	}
	return nil
}

func (m *modelLedger) GetLedgerEnd(context.Context, *lapiv2.GetLedgerEndRequest) (*lapiv2.GetLedgerEndResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refuseLocked(); err != nil {
		return nil, err
	}
	return &lapiv2.GetLedgerEndResponse{Offset: m.endLocked()}, nil
}

// GetUpdates sends the transactions after begin_exclusive and, tailing,
// the checkpoints after it and the one at it (Canton's cached checkpoint
// of that offset); bounded, no checkpoints, as Canton.
func (m *modelLedger) GetUpdates(r *lapiv2.GetUpdatesRequest, st grpc.ServerStreamingServer[lapiv2.GetUpdatesResponse]) error {
	begin, bounded, end := r.GetBeginExclusive(), r.EndInclusive != nil, r.GetEndInclusive()
	m.mu.Lock()
	if err := m.refuseLocked(); err != nil {
		m.mu.Unlock()
		return err
	}
	ledgerEnd := m.endLocked()
	drop, stop := m.dropAfter, m.endAfter
	m.dropAfter, m.endAfter = 0, 0
	m.mu.Unlock()
	if begin > ledgerEnd || (bounded && end > ledgerEnd) {
		return ledgertest.StatusError(codes.OutOfRange, ledgertest.ErrorIDOffsetAfterLedgerEnd, fmt.Sprintf("offset after ledger end (%d)", ledgerEnd), nil)
	}
	sent := 0
	send := func(resp *lapiv2.GetUpdatesResponse) (done bool, err error) {
		if drop > 0 && sent == drop {
			return true, ledgertest.StatusError(codes.Unavailable, ledgertest.ErrorIDInjectedFault, "stream broken (injected)", nil)
		}
		if stop > 0 && sent == stop {
			return true, nil
		}
		if err := st.Send(resp); err != nil {
			return true, err
		}
		sent++
		return false, nil
	}
	idleAt := int64(-1) // the ledger end the stream sent its idle checkpoint at
	for i := 0; ; i++ {
		m.mu.Lock()
		for i >= len(m.items) {
			if bounded {
				m.mu.Unlock()
				return nil
			}
			if end := m.endLocked(); idleAt != end && len(m.items) > 0 {
				// Idle at the ledger end: Canton's checkpoint of that
				// offset, with every synchronizer's record time there.
				idleAt = end
				cp := &ledger.OffsetCheckpoint{Offset: end, SynchronizerTimes: timesUpTo(m.items)}
				m.mu.Unlock()
				if done, err := send(&lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_OffsetCheckpoint{OffsetCheckpoint: cp.Proto()}}); done {
					return err
				}
				m.mu.Lock()
				continue
			}
			ch := m.changed
			m.mu.Unlock()
			select {
			case <-ch:
			case <-st.Context().Done():
				return st.Context().Err()
			}
			m.mu.Lock()
		}
		it := m.items[i]
		m.mu.Unlock()
		off := it.offset()
		if bounded && off > end {
			return nil
		}
		var resp *lapiv2.GetUpdatesResponse
		switch {
		case it.tx != nil && off > begin:
			resp = &lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_Transaction{Transaction: it.tx.Proto()}}
		case it.cp != nil && !bounded && off >= begin:
			resp = &lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_OffsetCheckpoint{OffsetCheckpoint: it.cp.Proto()}}
		default:
			continue
		}
		if done, err := send(resp); done {
			return err
		}
	}
}

// timesUpTo returns the record time each synchronizer has reached in items.
func timesUpTo(items []modelItem) []ledger.SynchronizerTime {
	reached := map[string]time.Time{}
	raise := func(s string, t time.Time) {
		if t.After(reached[s]) {
			reached[s] = t
		}
	}
	for _, it := range items {
		if it.tx != nil {
			raise(it.tx.SynchronizerID, it.tx.RecordTime)
		} else {
			for _, st := range it.cp.SynchronizerTimes {
				raise(st.SynchronizerID, st.RecordTime)
			}
		}
	}
	var out []ledger.SynchronizerTime
	for _, s := range slices.Sorted(maps.Keys(reached)) {
		out = append(out, ledger.SynchronizerTime{SynchronizerID: s, RecordTime: reached[s]})
	}
	return out
}

// modelSource hides the client's UpdateByID: a participant knows an update
// id at one offset, and the model's ids come again at new ones.
type modelSource struct{ c *ledger.Client }

func (s modelSource) Updates(ctx context.Context, r ledger.UpdatesRequest) (*ledger.UpdateStream, error) {
	return s.c.Updates(ctx, r)
}

func (s modelSource) LedgerEnd(ctx context.Context) (int64, error) { return s.c.LedgerEnd(ctx) }

// modelHistory generates the history and keeps what the database must hold.
type modelHistory struct {
	rng   *rand.Rand
	syncs []string
	now   map[string]time.Time // record time reached per synchronizer
	end   int64
	ids   []string         // every update id so far
	first map[string]int64 // the offset each id was first delivered at
	items []modelItem
	n     int
}

func newModelHistory(rng *rand.Rand) *modelHistory {
	h := &modelHistory{rng: rng, now: map[string]time.Time{}, first: map[string]int64{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1 + rng.IntN(3) {
		s := fmt.Sprintf("sync::%c", 'a'+i)
		h.syncs = append(h.syncs, s)
		h.now[s] = t0
	}
	return h
}

// later returns a record time for synchronizer s: the same as the last one
// often (non-unique record times), else a little later.
func (h *modelHistory) later(s string) time.Time {
	if h.rng.IntN(3) == 0 {
		return h.now[s]
	}
	return h.now[s].Add(time.Duration(1+h.rng.IntN(2000)) * time.Microsecond)
}

// next appends n random items and returns them.
func (h *modelHistory) next(n int) []modelItem {
	var out []modelItem
	for range n {
		var it modelItem
		switch r := h.rng.IntN(10); {
		case r < 6 || len(h.ids) == 0: // a new transaction
			h.end += 1 + int64(h.rng.IntN(3)*h.rng.IntN(2))
			h.n++
			it.tx = h.tx(fmt.Sprintf("upd-%d", h.n))
			h.ids = append(h.ids, it.tx.UpdateID)
			h.first[it.tx.UpdateID] = it.tx.Offset
		case r < 8: // an update id again, at a new offset
			h.end += 1 + int64(h.rng.IntN(2))
			it.tx = h.tx(h.ids[h.rng.IntN(len(h.ids))])
		default: // an OffsetCheckpoint
			last := len(h.items) > 0 && h.items[len(h.items)-1].tx != nil
			if !last || h.rng.IntN(2) == 0 {
				h.end += 1 + int64(h.rng.IntN(3))
			} // else at the offset of the transaction before it
			for _, s := range h.syncs {
				if h.rng.IntN(2) == 0 {
					h.now[s] = h.later(s)
				}
			}
			cp := &ledger.OffsetCheckpoint{Offset: h.end}
			for _, s := range h.syncs {
				cp.SynchronizerTimes = append(cp.SynchronizerTimes, ledger.SynchronizerTime{SynchronizerID: s, RecordTime: h.now[s]})
			}
			it.cp = cp
		}
		h.items = append(h.items, it)
		out = append(out, it)
	}
	return out
}

func (h *modelHistory) tx(id string) *ledger.Transaction {
	h.n++
	tx := simpleTx(treasury, h.n)
	s := h.syncs[h.rng.IntN(len(h.syncs))]
	h.now[s] = h.later(s)
	tx.UpdateID, tx.Offset, tx.SynchronizerID, tx.RecordTime, tx.EffectiveAt = id, h.end, s, h.now[s], h.now[s]
	for _, e := range tx.Events {
		if c, ok := e.(*ledger.CreatedEvent); ok {
			c.Offset = h.end
		}
	}
	return tx
}

// dbFaults are the faults the Ingesters' database connections meet, armed
// by the test: each fires once.
type dbFaults struct {
	failStatement atomic.Int64 // fail the n-th statement from now (0: none)
	loseCommit    atomic.Int64 // lose the reply to the n-th COMMIT from now
	failBegin     atomic.Int64 // fail the n-th BEGIN from now
	fired         atomic.Int64
}

func countdown(c *atomic.Int64) bool {
	for {
		v := c.Load()
		if v <= 0 {
			return false
		}
		if c.CompareAndSwap(v, v-1) {
			return v == 1
		}
	}
}

func (f *dbFaults) connector() *faultConnector {
	return &faultConnector{
		begin: func() error {
			if countdown(&f.failBegin) {
				f.fired.Add(1)
				return &pq.Error{Code: "57P03", Message: "the database system is starting up (injected)"}
			}
			return nil
		},
		statement: func(string) error {
			if countdown(&f.failStatement) {
				f.fired.Add(1)
				return &pq.Error{Code: "40001", Message: "could not serialize access (injected)"}
			}
			return nil
		},
		afterCommit: func([]string) error {
			if countdown(&f.loseCommit) {
				f.fired.Add(1)
				return errReplyLost()
			}
			return nil
		},
	}
}

func (f *dbFaults) disarm() {
	f.failStatement.Store(0)
	f.loseCommit.Store(0)
	f.failBegin.Store(0)
}

// modelRig is one seed's world.
type modelRig struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand
	led    *modelLedger
	hist   *modelHistory
	admin  *sqlx.DB // one connection: the test's own, never terminated
	dsn    string
	client *ledger.Client
	faults *dbFaults
	log    []string // what happened, for the failure message
	// lockNone: the Ingesters that take no lock (LockNone)
	lockNone map[*ingest.Ingester]bool
	runs     []*modelRun // those of the phase
	nruns    int
}

func (r *modelRig) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func (r *modelRig) fail(format string, args ...any) {
	r.t.Helper()
	tail := r.log
	if len(tail) > 40 {
		tail = tail[len(tail)-40:]
	}
	var runs []string
	for _, run := range r.runs {
		st := run.ing.Stats()
		runs = append(runs, fmt.Sprintf("run %d: state %v, offset %d, batches %d, errors %v, returned %v (%v)", run.id, st.State, st.Offset, st.Batches, st.Errors, run.returned, run.err))
	}
	r.t.Fatalf("seed %d (rerun: TXHISTORY_MODEL_SEED=%d TXHISTORY_MODEL_SEEDS=1): %s\nlast steps:\n  %s\nIngesters:\n  %s",
		r.seed, r.seed, fmt.Sprintf(format, args...), joinLines(tail), joinLines(runs))
}

func joinLines(ls []string) string {
	out := ""
	for i, l := range ls {
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}

// pool returns a database handle through the rig's fault connector; with
// pipeline false it allows 2 connections, which turns pipelining off.
func (r *modelRig) pool(pipeline bool) *sqlx.DB {
	b := withFaults(r.t, &testBundle{dsn: r.dsn}, r.faults.connector())
	if !pipeline {
		b.db.SetMaxOpenConns(2)
	}
	return b.db
}

func (r *modelRig) config() ingest.Config {
	rng := r.rng
	cfg := ingest.Config{
		Parties:       []string{treasury},
		Handler:       effectsHandler,
		Logger:        quietLog,
		MaxBatchSize:  []int{1, 2, 3, 5, 16, 1000}[rng.IntN(6)],
		MaxBatchDelay: []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond}[rng.IntN(3)],
		MinBackoff:    time.Millisecond,
		MaxBackoff:    20 * time.Millisecond,
		StreamBuffer:  []int{1, 4, 0}[rng.IntN(3)],
		LockPoll:      10 * time.Millisecond,
		LockCheck:     []time.Duration{-1, 20 * time.Millisecond, 0}[rng.IntN(3)],
		LedgerEndPoll: 10 * time.Millisecond,
		Poison:        []ingest.PoisonPolicy{ingest.PoisonHalt, ingest.PoisonSetAside}[rng.IntN(2)],
	}
	if rng.IntN(4) == 0 {
		cfg.StallTimeout = 50 * time.Millisecond
	}
	if rng.IntN(5) == 0 {
		cfg.Lock = ingest.LockNone
	}
	return cfg
}

// chaos does one random thing to the running world.
func (r *modelRig) chaos(ctx context.Context) {
	rng := r.rng
	switch rng.IntN(9) {
	case 0, 1:
		n := rng.IntN(12)
		if rng.IntN(5) == 0 {
			n = 30 + rng.IntN(100)
		}
		r.led.append(r.hist.next(n)...)
		r.logf("append %d (end %d)", n, r.hist.end)
	case 2:
		n := 1 + rng.IntN(8)
		r.led.mu.Lock()
		r.led.dropAfter = n
		r.led.mu.Unlock()
		r.logf("next stream breaks after %d items", n)
	case 3:
		r.led.mu.Lock()
		if rng.IntN(2) == 0 {
			r.led.endAfter = 1 + rng.IntN(8)
			r.logf("next stream ends (OK) after %d items", r.led.endAfter)
		} else {
			r.led.failNext = 1 + rng.IntN(2)
			r.logf("next %d ledger calls refused", r.led.failNext)
		}
		r.led.mu.Unlock()
	case 4:
		n := int64(1 + rng.IntN(12))
		r.faults.failStatement.Store(n)
		r.logf("statement %d from now fails", n)
	case 5:
		n := int64(1 + rng.IntN(4))
		r.faults.loseCommit.Store(n)
		r.logf("reply to COMMIT %d from now lost", n)
	case 6:
		n := int64(1 + rng.IntN(4))
		r.faults.failBegin.Store(n)
		r.logf("BEGIN %d from now fails", n)
	case 7, 8:
		var pids []int
		if err := r.admin.SelectContext(ctx, &pids, `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' ORDER BY pid`); err != nil {
			r.fail("list backends: %v", err)
		}
		if len(pids) > 0 {
			pid := pids[rng.IntN(len(pids))]
			_, _ = r.admin.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid)
			r.logf("terminated backend %d of %d", pid, len(pids))
		}
	}
}

// checkpoint reads the stored checkpoint.
func (r *modelRig) checkpoint() (checkpoint.Checkpoint, bool) {
	store, err := checkpoint.NewStore(schema.DefaultName)
	if err != nil {
		r.fail("%v", err)
	}
	cp, found, err := store.Get(context.Background(), r.admin)
	if err != nil {
		r.fail("read checkpoint: %v", err)
	}
	return cp, found
}

// check compares the database with the model: the effects are the ids
// first delivered at or before the checkpoint, once each, at their first
// offset; the checkpoint names the last transaction at or before its
// offset, and its record times lie between what the transactions up to it
// and what all items up to it raised.
func (r *modelRig) check(final bool) {
	r.t.Helper()
	cp, found := r.checkpoint()
	if !found {
		cp.Offset = 0
	}
	type row struct {
		ID     string `db:"update_id"`
		Offset int64  `db:"ledger_offset"`
	}
	var rows []row
	if err := r.admin.Select(&rows, `SELECT update_id, ledger_offset FROM effects ORDER BY ledger_offset, update_id`); err != nil {
		r.fail("read effects: %v", err)
	}
	got := map[string]int64{}
	for _, e := range rows {
		if _, dup := got[e.ID]; dup {
			r.fail("update %s applied twice (checkpoint offset %d)", e.ID, cp.Offset)
		}
		got[e.ID] = e.Offset
	}
	want := map[string]int64{}
	for id, off := range r.hist.first {
		if off <= cp.Offset {
			want[id] = off
		}
	}
	for id, off := range want {
		if g, ok := got[id]; !ok {
			r.fail("update %s (first at offset %d) missing, checkpoint offset %d", id, off, cp.Offset)
		} else if g != off {
			r.fail("update %s applied at offset %d, first delivered at %d", id, g, off)
		}
	}
	for id, off := range got {
		if _, ok := want[id]; !ok {
			r.fail("update %s applied (offset %d) beyond the checkpoint offset %d", id, off, cp.Offset)
		}
	}
	var dedupRows int
	if err := r.admin.Get(&dedupRows, `SELECT count(*) FROM txhistory.ingested_update`); err != nil {
		r.fail("count dedup rows: %v", err)
	}
	if dedupRows != len(want) {
		r.fail("%d dedup rows, %d updates ingested", dedupRows, len(want))
	}
	var aside int
	if err := r.admin.Get(&aside, `SELECT count(*) FROM txhistory.review_transaction`); err != nil {
		r.fail("count set aside: %v", err)
	}
	if aside != 0 {
		r.fail("%d transactions set aside", aside)
	}

	// The checkpoint.
	var lastTx *ledger.Transaction
	txMax, allMax := map[string]time.Time{}, map[string]time.Time{}
	raise := func(m map[string]time.Time, s string, t time.Time) {
		if t.After(m[s]) {
			m[s] = t
		}
	}
	for _, it := range r.hist.items {
		if it.offset() > cp.Offset {
			break
		}
		if it.tx != nil {
			lastTx = it.tx
			raise(txMax, it.tx.SynchronizerID, it.tx.RecordTime)
			raise(allMax, it.tx.SynchronizerID, it.tx.RecordTime)
		} else {
			for _, st := range it.cp.SynchronizerTimes {
				raise(allMax, st.SynchronizerID, st.RecordTime)
			}
		}
	}
	if lastTx == nil {
		if cp.UpdateID != "" {
			r.fail("checkpoint names update %s, none delivered up to offset %d", cp.UpdateID, cp.Offset)
		}
	} else if cp.UpdateID != lastTx.UpdateID || cp.UpdateOffset != lastTx.Offset || cp.SynchronizerID != lastTx.SynchronizerID || !cp.RecordTime.Equal(lastTx.RecordTime) {
		r.fail("checkpoint at offset %d names %s@%d (%s, %s), want %s@%d (%s, %s)", cp.Offset,
			cp.UpdateID, cp.UpdateOffset, cp.SynchronizerID, cp.RecordTime.Format(time.RFC3339Nano),
			lastTx.UpdateID, lastTx.Offset, lastTx.SynchronizerID, lastTx.RecordTime.Format(time.RFC3339Nano))
	}
	for s, t := range cp.RecordTimes {
		if _, ok := allMax[s]; !ok {
			r.fail("checkpoint has a record time for %s, never delivered up to offset %d", s, cp.Offset)
		}
		if t.Before(txMax[s]) || t.After(allMax[s]) {
			r.fail("checkpoint record time %s of %s outside [%s, %s] at offset %d", t.Format(time.RFC3339Nano), s,
				txMax[s].Format(time.RFC3339Nano), allMax[s].Format(time.RFC3339Nano), cp.Offset)
		}
	}
	for s := range txMax {
		if _, ok := cp.RecordTimes[s]; !ok {
			r.fail("checkpoint lacks the record time of %s at offset %d", s, cp.Offset)
		}
	}
	if final {
		if cp.Offset != r.hist.end {
			r.fail("final checkpoint offset %d, ledger end %d", cp.Offset, r.hist.end)
		}
		for s, t := range allMax {
			if !cp.RecordTimes[s].Equal(t) {
				r.fail("final record time of %s is %s, want %s", s, cp.RecordTimes[s].Format(time.RFC3339Nano), t.Format(time.RFC3339Nano))
			}
		}
	}
}

// caughtUp reports whether the stored checkpoint is the ledger's end with
// every record time delivered.
func (r *modelRig) caughtUp() bool {
	cp, found := r.checkpoint()
	if !found || cp.Offset != r.hist.end {
		return false
	}
	for _, it := range r.hist.items {
		if it.cp != nil {
			for _, st := range it.cp.SynchronizerTimes {
				if cp.RecordTimes[st.SynchronizerID].Before(st.RecordTime) {
					return false
				}
			}
		}
	}
	return true
}

// await polls cond for up to 20 seconds.
func (r *modelRig) await(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			if os.Getenv("TXHISTORY_MODEL_DUMP") != "" {
				_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			}
			r.fail("timed out waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// modelRun is an Ingester's Run in progress.
type modelRun struct {
	id      int
	ing     *ingest.Ingester
	bounded bool
	// mayConflict: the Ingester takes no lock and others run beside it:
	// the second of two writers stops with checkpoint.ErrConflict.
	mayConflict bool
	cancel      context.CancelFunc
	done        chan error
	returned    bool
	err         error
}

func (r *modelRig) start(ing *ingest.Ingester, bounded bool) *modelRun {
	ctx, cancel := context.WithCancel(context.Background())
	r.nruns++
	run := &modelRun{id: r.nruns, ing: ing, bounded: bounded, cancel: cancel, done: make(chan error, 1)}
	r.logf("run %d: Run of Ingester %p (bounded %v)", run.id, ing, bounded)
	go func() { run.done <- ing.Run(ctx) }()
	return run
}

// poll fails the test if run has returned before its phase ended, except
// a bounded one that has reached its end.
func (run *modelRun) poll(r *modelRig, phase int) {
	if run.returned {
		return
	}
	select {
	case err := <-run.done:
		run.returned, run.err = true, err
		if run.mayConflict && errors.Is(err, checkpoint.ErrConflict) {
			r.logf("run %d: Run without the lock stopped: %v", run.id, err)
			return
		}
		if err != nil || !run.bounded {
			r.fail("run %d: Run returned during phase %d (bounded %v, may conflict %v): %v (%T %#v)", run.id, phase, run.bounded, run.mayConflict, err, err, err)
		}
		r.logf("run %d: bounded Run returned", run.id)
	default:
	}
}

// wait waits for run to return nil (or, crashed, context.Canceled).
func (run *modelRun) wait(r *modelRig, phase int, how string, crashed bool) {
	defer run.cancel()
	if !run.returned {
		select {
		case run.err = <-run.done:
		case <-time.After(30 * time.Second):
			r.fail("phase %d: %s: Run does not return", phase, how)
		}
		run.returned = true
	}
	r.logf("run %d: %s: Run returned %v", run.id, how, run.err)
	if run.err != nil && !(crashed && errors.Is(run.err, context.Canceled)) && !(run.mayConflict && errors.Is(run.err, checkpoint.ErrConflict)) {
		r.fail("phase %d: %s: Run: %v", phase, how, run.err)
	}
}

// newIngester makes an Ingester of a random configuration, through a pool
// of its own; bounded ones end at the ledger end now.
func (r *modelRig) newIngester(what string, src ingest.Source, bounded bool) *ingest.Ingester {
	cfg := r.config()
	if bounded {
		cfg.EndOffset = max(r.hist.end, 1)
		if r.hist.end == 0 {
			r.led.append(r.hist.next(1)...)
			cfg.EndOffset = r.hist.end
		}
	}
	pipeline := r.rng.IntN(2) == 0
	handler := r.rng.IntN(3)
	switch handler {
	case 1:
		cfg.Handler = slowEffects
	case 2:
		cfg.Handler = readingEffects{}
	}
	r.logf("%s (batch %d, pipeline %v, poison %v, lock %v, lock check %v, buffer %d, stall %v, handler %d, end %d)",
		what, cfg.MaxBatchSize, pipeline, cfg.Poison, cfg.Lock, cfg.LockCheck, cfg.StreamBuffer, cfg.StallTimeout, handler, cfg.EndOffset)
	ing, err := ingest.New(r.pool(pipeline), src, cfg)
	if err != nil {
		r.fail("New: %v", err)
	}
	r.lockNone[ing] = cfg.Lock == ingest.LockNone
	return ing
}

// slowEffects is effectsHandler in batches that stay open for a while on
// the server, so that faults land inside them.
var slowEffects = ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_sleep($1)`, float64(rand.IntN(4))/1000); err != nil {
		return err
	}
	return effectsHandler(ctx, tx, b)
})

// readingEffects is effectsHandler as a Preparer and a Reader: it reads
// which of the batch's transactions are applied already (ahead of the
// commit of the batch before, when pipelined) and refuses a batch that
// would apply one again.
type readingEffects struct{}

func (readingEffects) Prepare(t *ledger.Transaction) any { return t.UpdateID }

func (readingEffects) ReadBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) (any, error) {
	return appliedOf(ctx, tx, b)
}

func (readingEffects) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	for _, t := range b.Transactions {
		if b.Prepared(t) != nil && b.Prepared(t) != t.UpdateID {
			return fmt.Errorf("update %s prepared as %v", t.UpdateID, b.Prepared(t))
		}
	}
	read, early := b.Read()
	if read == nil || early {
		var err error
		if read, err = appliedOf(ctx, tx, b); err != nil {
			return err
		}
	}
	if n := read.(int); n > 0 {
		return fmt.Errorf("%d transactions of batch (offsets %d..%d) applied already", n, b.FromOffset, b.ToOffset)
	}
	return effectsHandler(ctx, tx, b)
}

func appliedOf(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) (any, error) {
	ids := make([]string, len(b.Transactions))
	for i, t := range b.Transactions {
		ids[i] = t.UpdateID
	}
	var n int
	err := tx.GetContext(ctx, &n, `SELECT count(*) FROM effects WHERE update_id = ANY($1)`, pq.Array(ids))
	return n, err
}

func runModel(t *testing.T, seed uint64) {
	db, dsn := newEffectsDB(t)
	db.SetMaxOpenConns(1) // the admin connection: never terminated
	led := newModelLedger()
	lis := serveLedger(t, led)
	rng := rand.New(rand.NewPCG(seed, 0x6d6f64656c))
	r := &modelRig{t: t, seed: seed, rng: rng, led: led, hist: newModelHistory(rng), admin: db, dsn: dsn,
		client: dial(t, lis.Addr().String(), nil), faults: &dbFaults{}, lockNone: map[*ingest.Ingester]bool{}}
	led.append(r.hist.next(rng.IntN(20))...)
	src := modelSource{r.client}

	var ing *ingest.Ingester // kept for "Stop, then Run again"
	phases := 6 + rng.IntN(6)
	for phase := range phases {
		var runs []*modelRun
		if ing == nil || rng.IntN(2) == 0 {
			ing = r.newIngester(fmt.Sprintf("phase %d: new Ingester", phase), src, false)
		} else {
			r.logf("phase %d: the same Ingester runs again", phase)
		}
		runs = append(runs, r.start(ing, false))
		if rng.IntN(4) == 0 {
			// A second one beside it: it waits for the lock, or takes it
			// when the first loses its connection.
			runs = append(runs, r.start(r.newIngester(fmt.Sprintf("phase %d: a second Ingester", phase), src, false), false))
		}
		if rng.IntN(4) == 0 {
			// A bounded catch-up beside them, to the ledger end now.
			runs = append(runs, r.start(r.newIngester(fmt.Sprintf("phase %d: a bounded Ingester to %d", phase, r.hist.end), src, true), true))
		}
		for _, run := range runs {
			run.mayConflict = len(runs) > 1 && r.lockNone[run.ing]
		}
		r.runs = runs
		for range rng.IntN(10) {
			r.chaos(context.Background())
			<-time.After(time.Duration(rng.IntN(30)) * time.Millisecond) // chaos, not synchronisation
			for _, run := range runs {
				run.poll(r, phase)
			}
		}
		switch rng.IntN(3) {
		case 0: // a crash
			for _, run := range runs {
				run.cancel()
			}
			for _, run := range runs {
				run.wait(r, phase, "crash", true)
			}
			if rng.IntN(2) == 0 {
				ing = nil // a new process; else the same Ingester runs again
			}
		case 1: // Stop
			for _, run := range runs {
				run.ing.Stop()
			}
			for _, run := range runs {
				run.wait(r, phase, "stop", false)
			}
		default: // catch up, without faults, then Stop
			r.faults.disarm()
			r.await(fmt.Sprintf("phase %d to catch up with offset %d", phase, r.hist.end), func() bool {
				for i, run := range runs {
					run.poll(r, phase)
					if run.returned && run.err != nil {
						// Stopped by a conflict: the Ingester runs again.
						runs[i] = r.start(run.ing, run.bounded)
						runs[i].mayConflict = true
					}
				}
				r.runs = runs
				return r.caughtUp()
			})
			for _, run := range runs {
				if !run.bounded {
					run.ing.Stop()
				}
			}
			for _, run := range runs {
				run.wait(r, phase, "caught up", false)
			}
		}
		if runs[0].err != nil && !errors.Is(runs[0].err, context.Canceled) {
			// Stopped by a conflict, perhaps before the Stop above: that
			// Stop would end its next Run, as documented.
			ing = nil
		}
		r.faults.disarm()
		r.led.mu.Lock()
		r.led.dropAfter, r.led.endAfter, r.led.failNext = 0, 0, 0
		r.led.mu.Unlock()
		r.check(false)
	}

	// The end: one more Ingester, no faults, until it has everything.
	r.led.append(r.hist.next(rng.IntN(5))...)
	final := r.newIngester("final Ingester", src, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- final.Run(ctx) }()
	r.await(fmt.Sprintf("the final Ingester to reach offset %d", r.hist.end), r.caughtUp)
	final.Stop()
	if err := <-done; err != nil {
		r.fail("final Run: %v", err)
	}
	r.check(true)
	t.Logf("seed %d: %d items, %d update ids, %d phases, %d database faults fired", seed, len(r.hist.items), len(r.hist.first), phases, r.faults.fired.Load())
}
