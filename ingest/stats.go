package ingest

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ledger"
)

// State is what an Ingester is doing.
type State string

// The states of an Ingester, as Stats.State reports them.
const (
	StateStarting         State = "starting"
	StateWaitingForLock   State = "waiting_for_lock"       // another ingester holds the schema (standby)
	StateStreaming        State = "streaming"              // reading and committing updates
	StateWaitingLedgerEnd State = "waiting_for_ledger_end" // the checkpoint is beyond the participant's ledger end
	StateRetrying         State = "retrying"               // backing off after a transient fault
	StateStopped          State = "stopped"                // Run returned
)

// Stats describes ingestion progress.
type Stats struct {
	// State is what the Ingester is doing now.
	State State
	// Offset is the committed checkpoint offset. An Ingester that has not
	// loaded the checkpoint (not run yet, or a standby waiting for the
	// lock) reports the stored one as its last LedgerEndLag call read it,
	// which another ingester may be moving, and UpdateID, RecordTime and
	// RecordTimes of that one too.
	Offset int64
	// UpdateID and RecordTime are those of the last ingested transaction,
	// as the checkpoint names it: in the replay after a runbook's rewind,
	// the last one ingested before the rewind (see the package doc).
	UpdateID   string
	RecordTime time.Time
	// RecordTimes is the record time reached per synchronizer.
	RecordTimes map[string]time.Time
	// Transactions counts new transactions committed since the Ingester was
	// made (New), over all its Runs, as the counters below do (those set
	// aside for review included, which SetAside counts too: their update
	// ids are committed, and they are not streamed again);
	// Skipped those dedup dropped; Checkpoints the OffsetCheckpoints seen
	// (those that changed nothing included: they make no batch); Batches
	// the SQL transactions committed.
	Transactions, Skipped, Checkpoints, Batches int64
	// SetAside counts transactions set aside for review (PoisonSetAside)
	// in batches this Ingester committed: a batch retried after a failed
	// commit counts its transactions once, and one already in the review
	// table (set aside before a restart) is not counted again. Those a
	// Handler records in the review table itself (tokenstd.History with
	// its SetAside policy) are not counted: the review table lists them
	// (SetAsideTransactions).
	SetAside int64
	// TxPerSecond is the rate of new transactions over the last committed
	// batches (a moving average over about ten seconds); 0 once nothing
	// was committed for that long.
	TxPerSecond float64
	// LastBatchLatency is how long the last commit took, retries included.
	LastBatchLatency time.Duration
	// LedgerEndLag is the offsets between the checkpoint and the ledger end,
	// as of the last call of LedgerEndLag that succeeded, at
	// LedgerEndLagAt (zero: none yet, and LedgerEndLag is unknown, not 0).
	LedgerEndLag   int64
	LedgerEndLagAt time.Time
	// Errors counts faults by kind: "stream", "auth", "database", "handler",
	// "decode", "other". A Handler's error that is retried counts as the
	// fault it is taken for, once per failed attempt: "database" for one
	// IsTransientDBError takes (a network error or a deadline of the
	// Handler's own, from a call to another service too), "stream" for a
	// retryable Ledger API error; "handler" counts its rejections.
	Errors map[string]int64
	// DatabaseErrorAt is when the last "database" fault was counted (a
	// checkpoint moved by another ingester aside: the database answered);
	// zero if none was. Compared with LastCommit and CheckpointRead, it tells a
	// fault since the database last answered from one before.
	DatabaseErrorAt time.Time
	// LastCommit is when the last batch committed.
	LastCommit time.Time
	// CheckpointRead is when Run last read the checkpoint from the
	// database: at start, and again after it took the lock again (the
	// database had dropped its session) or found the checkpoint moved. The
	// database answered then: a database fault counted before it is over.
	CheckpointRead time.Time
}

type statsRecorder struct {
	mu     sync.Mutex
	s      Stats
	window []rateSample
	// lag is the last LedgerEndLag's measure, lagAt when it was answered
	// (zero: never measured), lagAsked when it was asked: of calls that
	// overlap, the one asked last wins, whichever answers last.
	lag             int64
	lagAt, lagAsked time.Time
	// loaded is set once s.Offset is the checkpoint's: Run loaded it.
	loaded atomic.Bool
}

type rateSample struct {
	at time.Time
	n  int64
}

func (r *statsRecorder) setCheckpoint(cp checkpoint.Checkpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.Offset, r.s.UpdateID, r.s.RecordTime = cp.Offset, cp.UpdateID, cp.RecordTime
	r.s.RecordTimes = maps.Clone(cp.RecordTimes)
	r.s.CheckpointRead = time.Now()
	r.loaded.Store(true)
}

func (r *statsRecorder) committed(b *builder, skipped int, latency time.Duration) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.Offset, r.s.UpdateID, r.s.RecordTime = b.cp.Offset, b.cp.UpdateID, b.cp.RecordTime
	r.s.RecordTimes = maps.Clone(b.cp.RecordTimes)
	fresh := int64(len(b.txs) - skipped)
	r.s.Transactions += fresh
	r.s.Skipped += int64(skipped)
	r.s.Checkpoints += int64(len(b.cps))
	r.s.Batches++
	r.s.LastBatchLatency = latency
	r.s.LastCommit = now
	r.window = append(r.window, rateSample{at: now, n: fresh})
	cut := 0
	for cut < len(r.window)-1 && now.Sub(r.window[cut].at) > rateWindow {
		cut++
	}
	r.window = r.window[cut:]
	var n int64
	for _, s := range r.window[1:] {
		n += s.n
	}
	// A batch alone in the window (the first, or the first after a
	// pause) gives no rate: 0, not the rate before the pause.
	r.s.TxPerSecond = 0
	if span := now.Sub(r.window[0].at); span > 0 {
		r.s.TxPerSecond = float64(n) / span.Seconds()
	}
}

// rateWindow is about how far back TxPerSecond looks.
const rateWindow = 10 * time.Second

// checkpointsSeen counts OffsetCheckpoints that made no batch (they
// repeated the committed offset and record times).
func (r *statsRecorder) checkpointsSeen(n int) {
	if n == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.Checkpoints += int64(n)
}

// setStored makes Offset, UpdateID and the record times the stored
// checkpoint's, read by an Ingester that has not loaded it (a standby),
// unless it loaded it meanwhile. A standby that ingested before (it lost
// the lock) would otherwise show its own old record times beside the
// stored offset.
func (r *statsRecorder) setStored(cp checkpoint.Checkpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded.Load() {
		r.s.Offset, r.s.UpdateID, r.s.RecordTime = cp.Offset, cp.UpdateID, cp.RecordTime
		r.s.RecordTimes = maps.Clone(cp.RecordTimes)
	}
}

func (r *statsRecorder) setState(st State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.State = st
}

func (r *statsRecorder) setAside() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.SetAside++
}

func (r *statsRecorder) errorOf(err error) {
	kind := "other"
	var he *handlerError
	var de *ledger.DecodeError
	switch {
	case errors.As(err, &he) && !transientHandlerError(err):
		kind = "handler"
	case errors.As(err, &de):
		kind = "decode"
	case ledger.IsAuth(err):
		kind = "auth"
	case IsTransientDBError(err), errors.Is(err, errLockLost), errors.Is(err, errCheckpointMoved), errors.Is(err, errCheckpointBack):
		// A handler's statement too: the batch is retried as for any
		// database fault (and a handler's retryable ledger error, below,
		// as a stream fault is).
		kind = "database"
	case ledger.IsRetryable(err), errors.Is(err, errStalled), errors.Is(err, errStreamEnded):
		kind = "stream"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s.Errors == nil {
		r.s.Errors = map[string]int64{}
	}
	r.s.Errors[kind]++
	if kind == "database" && !errors.Is(err, errCheckpointMoved) && !errors.Is(err, errCheckpointBack) {
		// Not a checkpoint that moved: Run counts it once it has read the
		// checkpoint again, the database answering.
		r.s.DatabaseErrorAt = time.Now()
	}
}

func (r *statsRecorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.s
	if s.State == "" {
		s.State = StateStarting
	}
	s.RecordTimes = maps.Clone(r.s.RecordTimes)
	s.Errors = maps.Clone(r.s.Errors)
	if len(r.window) > 0 && time.Since(r.window[len(r.window)-1].at) > rateWindow {
		// Nothing committed in the window: no transactions per second.
		s.TxPerSecond = 0
	}
	s.LedgerEndLag, s.LedgerEndLagAt = r.lag, r.lagAt
	return s
}

// measuredLag records a LedgerEndLag measure asked at asked, unless one
// asked later is recorded already.
func (r *statsRecorder) measuredLag(lag int64, asked time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if asked.Before(r.lagAsked) {
		return
	}
	r.lag, r.lagAt, r.lagAsked = lag, time.Now(), asked
}
