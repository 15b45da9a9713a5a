package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/internal/logattr"
	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// Defaults of Config.
const (
	MaxBatchSizeDefault  = 1000
	MaxBatchDelayDefault = 20 * time.Millisecond
	MinBackoffDefault    = 100 * time.Millisecond
	MaxBackoffDefault    = 30 * time.Second
	LedgerEndPollDefault = time.Second
	StreamBufferDefault  = 1024
	LockPollDefault      = 2 * time.Second
	LockCheckDefault     = 30 * time.Second

	// StreamBufferBytesDefault is 16 MiB of updates as they arrived.
	StreamBufferBytesDefault = 16 << 20
)

// Source is where the Ingester reads updates: a *ledger.Client, or a type
// that wraps one (to count or delay its calls, say); only a Client makes a
// *ledger.UpdateStream. Tests of handlers run a Client against
// ledger/ledgertest's fake participant.
type Source interface {
	Updates(ctx context.Context, r ledger.UpdatesRequest) (*ledger.UpdateStream, error)
	LedgerEnd(ctx context.Context) (int64, error)
}

// Config configures an Ingester. Zero fields take the documented defaults.
type Config struct {
	// Parties whose transactions to ingest (the treasury party). Required.
	// The Integration DB remembers them: the first Run records them with
	// the checkpoint (as does the first Run on a checkpoint from before
	// schema version 010, which has none recorded), and Run refuses to
	// resume with another set of parties (ErrPartiesChanged); order and
	// duplicates do not matter. New refuses Parties that lack the treasury
	// a Handler keeps the history of (TreasuryKeeper).
	Parties []string
	// AcceptPartiesChange makes Run go on with Parties that differ from the
	// ones the Integration DB recorded, instead of returning
	// ErrPartiesChanged: it records Parties, logs a warning naming the
	// parties added and removed and the checkpoint offset, and resumes from
	// the checkpoint. The transactions of an added party before that
	// offset are never ingested, and those of a removed one no longer.
	// Default false. Unset it once the change is recorded: left set, it
	// accepts every later change in silence but for the warning. (The
	// tokenstd History handler still refuses a treasury replaced while the
	// old one's holdings are live: one Integration DB, one treasury.)
	AcceptPartiesChange bool
	// Interfaces whose views the stream asks for. Nil or empty: the token
	// standard v1 interfaces (ledger.TokenStandardInterfaces), which the
	// tokenstd History handler needs. A list replaces them: New refuses
	// one that lacks an interface the Handler reads views of (ViewUser,
	// ErrInterfacesMissing).
	Interfaces []ledger.Identifier
	// Schema holding the txhistory tables. Default schema.DefaultName.
	// The handlers write it too: give tokenstd.Config and withdrawal.Config
	// the same Schema (New refuses a Handler that says it writes another,
	// SchemaWriter).
	Schema string
	// Handler writes each batch's effects. Nil: only dedup rows and the
	// checkpoint are written. One holding a nil pointer or func (a nil
	// *tokenstd.History) is refused.
	Handler Handler
	// StartOffset is where ingestion begins (exclusive) when the database has
	// no checkpoint yet. Default 0: the start of the ledger. Handlers that
	// build state from the history need it from before their first
	// transaction: tokenstd.History must see the treasury's holdings
	// created, so start before the first one (the first transfer of the
	// treasury spending a holding created before the start is a
	// *tokenstd.ParseError naming it: Run stops there, or, under a
	// set-aside policy, sets it aside for review, as later transfers
	// spending its change).
	StartOffset int64
	// EndOffset, if positive, makes Run return nil once the checkpoint has
	// reached it (a bounded catch-up), at once if it already has; one
	// before StartOffset is refused. Default 0: tail forever. A bounded
	// stream carries no OffsetCheckpoint: when the last transaction for the
	// parties lies before EndOffset, Run asks once more from it, and moves
	// the checkpoint to EndOffset only when that stream delivers nothing (a
	// stream cut short with status OK is not taken for the end).
	EndOffset int64
	// MaxBatchSize is the most transactions in one SQL transaction. Default
	// 1,000. Batch sizes follow the load: a batch takes what arrived while
	// the batch before was being committed, and is committed once nothing
	// decoded is waiting (or the one before has committed, see Pipelining
	// in the package documentation), so while tailing batches are small and
	// in catch-up they take what queued up in the StreamBuffer: change the
	// two together (with StreamBuffer 256 the bench's million-transfer
	// catch-up averaged 592 transactions a batch, with 1,024 977). Each
	// batch pays a fixed cost (about ten statements, their round trips and
	// planning), so bigger batches make a faster catch-up: in the bench,
	// 1,000 ingested 15-30% faster than 500.
	MaxBatchSize int
	// MaxBatchDelay is the longest an update waits for its batch to fill
	// before the batch is committed anyway. A batch is also committed as soon
	// as the stream has nothing more to deliver (no decoded update is
	// waiting): a quiet stream is committed at once, and under load batches
	// grow by themselves, as updates queue up while a commit runs. Default
	// 20ms.
	MaxBatchDelay time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff (with jitter)
	// between reconnects and database retries: the step doubles from
	// MinBackoff up to MaxBackoff, and each wait is drawn between half the
	// step and the step (the first from MinBackoff/2). Defaults 100ms and
	// 30s. A MaxBackoff below MinBackoff (the default one included) is
	// raised to it: the step stays MinBackoff, and a stream counts as
	// progress for MaxAttempts once it ran that long.
	MinBackoff, MaxBackoff time.Duration
	// LedgerEndPoll is how often to look again while the checkpoint is beyond
	// the participant's ledger end. Default 1s.
	LedgerEndPoll time.Duration
	// StreamBuffer is how many decoded updates may wait for the database.
	// Default 1,024, about one batch of the default size: the next batch is
	// decoded (and prepared, see Preparer) while one commits. It bounds
	// memory when the database is slower than the stream (a decoded token
	// transfer holds about 7.7 KB, and the History handler's prepared
	// entries about 2 KB more): the buffer and the two batches in progress
	// hold up to about 29 MB of transfers (a peak RSS of 80-96 MB in the
	// bench's million-transfer catch-up; what gRPC may hold before the
	// stream is read is bounded by ledger.Config.ReceiveWindow).
	StreamBuffer int
	// StreamBufferBytes bounds, in bytes as they arrived on the stream, the
	// updates read but not yet committed: those waiting in the buffer and
	// those of the batches being built, started or committed. Reading
	// pauses until a commit frees enough; an update bigger than the whole
	// bound is read when nothing else is pending, and makes a batch of its
	// own. Where StreamBuffer and MaxBatchSize bound counts, this bounds
	// memory when transactions are much bigger than a transfer (about 6 KB
	// as it arrives, 7.7 KB decoded). Default 16 MiB; for transfers it binds
	// at about 2,800, a little before the counts would. Count on about ten
	// times the bound in Go heap for transactions of many small contracts:
	// decoded they take four to five times their size as they arrived, and
	// the heap peaks at about twice what is live
	// (BenchmarkIngestLargeTransactions). That is what real transactions
	// do; one built to be expensive (a list of a million empty values in
	// 4 MB) decodes to about thirteen times its wire size, and allocates
	// forty-six times it on the way, and anyone can send the treasury one.
	// Leave headroom of about fifty times the largest transaction the
	// synchronizer accepts, or lower the ledger client's MaxRecvMsgSize
	// (default 64 MiB) towards it.
	StreamBufferBytes int
	// StallTimeout, if positive, reconnects a tailing stream that delivered
	// nothing (not even an OffsetCheckpoint) for this long. Default 0: never.
	// While reading waits for a commit to free StreamBufferBytes, the
	// stream is not taken for stalled.
	// A connection gone half-open needs no StallTimeout when the client
	// was made by ledger.Dial with its default keepalive: its pings fail it
	// (ledger.KeepaliveTime). A client from ledger.NewClient on a
	// connection of your own, or DialOptions turning the pings off, needs
	// its own keepalive or a StallTimeout. StallTimeout is also for a
	// participant, or a proxy, that answers pings but sends nothing. It
	// counts from the last message received whole: set it well above the
	// time the largest transaction takes to arrive (its size over the
	// link's rate), or the stream is reconnected in the middle of it, and
	// again each time.
	// A stall counts as a failed attempt without progress for MaxAttempts,
	// however long the stream ran before it: on a ledger quiet for
	// MaxAttempts times StallTimeout, with no OffsetCheckpoint either, Run
	// gives up.
	StallTimeout time.Duration
	// MaxAttempts, if positive, makes Run fail after this many failed
	// attempts of one kind without progress in between: database faults
	// (a batch's commit, the checkpoint's load, the lock), or the rest
	// (reaching the participant, the stream). Progress is a commit, an
	// OffsetCheckpoint received, or a stream that ran for MaxBackoff
	// before it broke or ended (a proxy's maximum connection age or idle
	// timeout cutting a quiet stream is churn, not a failure; a stall is
	// one). Default 0: retry transient faults forever.
	MaxAttempts int
	// Poison says what to do with a transaction that cannot be ingested (the
	// participant sent it malformed, or the Handler rejects it). Default
	// PoisonHalt: stop with an error naming it. PoisonSetAside records it in
	// the review_transaction table and continues; not when the Handler's
	// statement was refused for what the database lacks or forbids
	// (SQLSTATE classes 42 and 3F: a missing table, schema or grant), nor
	// when a credential of its own was refused (a PostgreSQL login, class
	// 28, or a database its DSN names that the server lacks, class 3D; a
	// participant's ledger.IsAuth), nor when its error wraps
	// ErrDeploymentFault (handlers chained in the wrong order) or
	// ledger.ErrClientClosed, which would refuse every transaction alike:
	// Run stops, naming the first. A
	// message the client cannot take at all (ledger.ErrMessageRejected:
	// larger than the client's MaxRecvMsgSize, or not a protobuf message)
	// stops Run under either policy, naming the checkpoint: there is no
	// transaction to set aside; so does an item of the stream of a kind
	// this release does not know (ledger.ErrUnknownUpdateKind: upgrade
	// txhistory). A transaction that does not unmarshal but
	// whose offset can be read (a text that is not UTF-8) is malformed, as
	// above.
	Poison PoisonPolicy
	// Lock says what to do when another Ingester already runs on this
	// schema. Default LockWait.
	Lock LockPolicy
	// LockPoll is how often a waiting Ingester tries the lock again. Default 2s.
	LockPoll time.Duration
	// LockCheck is how often a running Ingester checks that the connection
	// holding its lock is still there, which also keeps that otherwise idle
	// connection from being closed by the idle timeout of a proxy or
	// firewall (PostgreSQL's idle_session_timeout, whatever its value, is
	// turned off for that session alone). If it is gone (a restart,
	// pg_terminate_backend), the lock went with it: the Ingester ends its
	// stream without committing more, takes the lock again (waiting, under
	// LockWait, for an ingester that took it meanwhile) and resumes from the
	// checkpoint. A commit that meets a checkpoint moved by the ingester that
	// took the lock between two checks does the same instead of failing
	// with checkpoint.ErrConflict. Until its next check, an ingester that
	// lost its lock can still commit (the checkpoint's optimistic check
	// keeps the two from applying anything twice); the ingester that took
	// the lock, if its commit meets a checkpoint moved that way, reloads the
	// checkpoint and resumes from it. Default 30s; negative: only between
	// streams. It also bounds the wait for a connection of a pool with a
	// limit (the default when negative): see ErrPoolExhausted.
	LockCheck time.Duration
	// Logger receives progress and retry logs. Default: slog.Default().
	Logger *slog.Logger
	// OnCommit, if set, is called after each committed batch with the stats,
	// from Run's goroutine. A panic in it reaches Run's caller, the next
	// batch's transaction rolled back and the ingestion lock released.
	OnCommit func(Stats)
}

// WithDefaults returns a copy of c with empty fields filled.
func (c Config) WithDefaults() Config {
	if len(c.Interfaces) == 0 {
		// An empty list would ask the participant for no views at all
		// (ledger.Filter), not for the default ones.
		c.Interfaces = nil
	}
	if c.Schema == "" {
		c.Schema = schema.DefaultName
	}
	if c.MaxBatchSize <= 0 {
		c.MaxBatchSize = MaxBatchSizeDefault
	}
	if c.MaxBatchDelay <= 0 {
		c.MaxBatchDelay = MaxBatchDelayDefault
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = MinBackoffDefault
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = MaxBackoffDefault
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.LedgerEndPoll <= 0 {
		c.LedgerEndPoll = LedgerEndPollDefault
	}
	if c.StreamBuffer <= 0 {
		c.StreamBuffer = StreamBufferDefault
	}
	if c.StreamBufferBytes <= 0 {
		c.StreamBufferBytes = StreamBufferBytesDefault
	}
	if c.LockPoll <= 0 {
		c.LockPoll = LockPollDefault
	}
	if c.LockCheck == 0 {
		c.LockCheck = LockCheckDefault
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// negative refuses a negative value of a field whose zero means its
// default (and which documents no meaning for a negative one), before
// WithDefaults would take it for zero.
func (c Config) negative() error {
	for _, f := range []struct {
		name string
		neg  bool
		v    any
	}{
		{"MaxBatchSize", c.MaxBatchSize < 0, c.MaxBatchSize}, {"MaxBatchDelay", c.MaxBatchDelay < 0, c.MaxBatchDelay},
		{"MinBackoff", c.MinBackoff < 0, c.MinBackoff}, {"MaxBackoff", c.MaxBackoff < 0, c.MaxBackoff},
		{"LedgerEndPoll", c.LedgerEndPoll < 0, c.LedgerEndPoll}, {"StreamBuffer", c.StreamBuffer < 0, c.StreamBuffer},
		{"StreamBufferBytes", c.StreamBufferBytes < 0, c.StreamBufferBytes}, {"LockPoll", c.LockPoll < 0, c.LockPoll},
	} {
		if f.neg {
			return fmt.Errorf("ingest: Config.%s is negative (%v): zero gives the default", f.name, f.v)
		}
	}
	return nil
}

func (c Config) validate() error {
	if len(c.Parties) == 0 {
		return errors.New("ingest: Config.Parties is empty: name the treasury party")
	}
	for _, p := range c.Parties {
		if p == "" {
			return errors.New("ingest: Config.Parties holds an empty party id")
		}
	}
	if c.StartOffset < 0 || c.EndOffset < 0 {
		return fmt.Errorf("ingest: negative StartOffset %d or EndOffset %d", c.StartOffset, c.EndOffset)
	}
	for _, id := range c.Interfaces {
		if id.PackageID == "" || id.PackageID == "#" || id.ModuleName == "" || id.EntityName == "" {
			return fmt.Errorf("ingest: Config.Interfaces holds %q: an interface id needs its package (id or #name), module and entity name", id.String())
		}
	}
	if c.EndOffset > 0 && c.EndOffset < c.StartOffset {
		return fmt.Errorf("ingest: EndOffset %d is before StartOffset %d", c.EndOffset, c.StartOffset)
	}
	if hasNilHandler(c.Handler) {
		return errors.New("ingest: Config.Handler is, or Handlers was given, a nil Handler or one holding a nil pointer or func")
	}
	if len(c.Interfaces) > 0 {
		// Nil asks for the token standard's, which every handler here
		// reads.
		for _, need := range viewsNeeded(c.Handler) {
			if !slices.ContainsFunc(c.Interfaces, need.SameEntity) {
				return fmt.Errorf("%w: %s (Config.Interfaces replaces the default list: add it, or leave Interfaces empty for the token standard's)",
					ErrInterfacesMissing, need)
			}
		}
	}
	if c.Poison != PoisonHalt && c.Poison != PoisonSetAside {
		return fmt.Errorf("ingest: Config.Poison: unknown policy %d", int(c.Poison))
	}
	if c.Lock != LockWait && c.Lock != LockFail && c.Lock != LockNone {
		return fmt.Errorf("ingest: Config.Lock: unknown policy %d", int(c.Lock))
	}
	if err := schema.ValidateName(c.Schema); err != nil {
		return err
	}
	if h, other, ok := otherSchema(c.Handler, c.Schema); ok {
		if other == "" {
			// Config.Schema is never empty here: a handler naming none
			// was written as a zero value.
			return fmt.Errorf("ingest: the Handler %T names no schema: a zero value? make it with its constructor (tokenstd.NewHistory, withdrawal.NewReconciler)", h)
		}
		return fmt.Errorf("ingest: the Handler %T writes schema %q, the Ingester's is %q: give ingest.Config, tokenstd.Config and withdrawal.Config the same Schema", h, other, c.Schema)
	}
	if h, party, ok := missingTreasury(c.Handler, c.Parties); ok {
		return fmt.Errorf("ingest: the Handler %T keeps the history of %q, which Config.Parties %q lacks: the participant would send none of its transactions (add it to Parties)", h, party, c.Parties)
	}
	return nil
}

// Ingester streams the update stream into PostgreSQL. Create it with New and
// run it with Run, one Run at a time (a second is refused with ErrRunning);
// one Ingester per Integration DB.
type Ingester struct {
	db     *sqlx.DB
	src    Source
	cfg    Config
	cps    *checkpoint.Store
	dedup  *dedup.Store
	review string
	log    *slog.Logger
	stats  statsRecorder
	// stopCh is closed by Stop (stopClosed, under stopMu) and replaced by
	// a fresh one when the Run it ended returns.
	stopCh     chan struct{}
	stopMu     sync.Mutex
	stopClosed bool
	// cp is the committed checkpoint, owned by the Run goroutine.
	cp checkpoint.Checkpoint
	// replayUntil, owned by the Run goroutine, is the update id of the last
	// transaction ingested before a rewind (the checkpoint's, with its
	// offset forgotten) until a committed batch has read it again, or a
	// transaction of its synchronizer after it: in that replay a
	// transaction dedup knows may have a record time behind its
	// synchronizer's. Elsewhere any transaction whose record time goes back
	// is taken for a restore. The checkpoint names that transaction until
	// the replay ends, so that a new session finds the replay again.
	replayUntil string
	// lock is the ingestion lock held now (nil under LockNone), owned by
	// the Run goroutine.
	lock *instanceLock
	// running is set while a Run runs: a second one is refused
	// (ErrRunning).
	running atomic.Bool
}

// New creates an Ingester reading from src into db. The schema must have been
// migrated (schema.Migrate) by this build: Run refuses one at another
// version (schema.CheckCurrent), also one another release migrates while
// it runs (every batch checks, schema.CheckCurrentTx). A nil db or src, a nil *ledger.Client
// included, is refused, as is a negative size, delay or interval in cfg
// where zero means the default.
func New(db *sqlx.DB, src Source, cfg Config) (*Ingester, error) {
	if err := cfg.negative(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// A nil *ledger.Client (of a Dial whose error was ignored) is no
	// source either.
	if db == nil || src == nil || nilcheck.Holds(src) {
		return nil, errors.New("ingest: nil database or source")
	}
	cps, err := checkpoint.NewStore(cfg.Schema)
	if err != nil {
		return nil, err
	}
	dd, err := dedup.NewStore(cfg.Schema)
	if err != nil {
		return nil, err
	}
	ing := &Ingester{db: db, src: src, cfg: cfg, cps: cps, dedup: dd, review: schema.Qualify(cfg.Schema, "review_transaction"),
		log: cfg.Logger, stopCh: make(chan struct{})}
	if err := ing.checkPool(); err != nil {
		return nil, err
	}
	return ing, nil
}

// ErrPoolTooSmall: the database pool allows a single open connection
// (sql.DB.SetMaxOpenConns(1)) while the Ingester takes its lock, which
// holds that connection for as long as Run runs: batches would wait for a
// second one for ever.
var ErrPoolTooSmall = errors.New("ingest: the database pool allows 1 open connection, which the ingestion lock holds while Run runs: allow 2 (3 to overlap batches), or use LockNone")

// checkPool refuses a pool the ingestion lock would exhaust. New and Run
// check it (the pool's limit may be changed in between).
func (ing *Ingester) checkPool() error {
	if ing.cfg.Lock != LockNone && ing.db.Stats().MaxOpenConnections == 1 {
		return ErrPoolTooSmall
	}
	return nil
}

// Stop asks Run to commit what it has received and return nil: the batch
// being built and the one committing, not the updates still waiting in the
// StreamBuffer (the next Run streams them again): with a slow Handler,
// Run returns once it has handled those two batches, of up to MaxBatchSize
// transactions each. It does not wait; Run's return says when it is done. Calls to the participant that a
// session makes before its stream opens (nothing received yet) are cut
// short, as are the wait for a pool connection to take the ingestion
// lock, the look-up that words an ErrParticipantRestored and the
// checkpoint's load (its statements and the wait for a pool connection
// before them, ErrPoolExhausted); an
// answer that came first stands (a restored participant: Run returns
// ErrParticipantRestored). A batch the database refuses (down, or a transient fault) is not
// retried after Stop: Run returns nil without it, and the next Run ingests
// it again. Stop ends the Run in
// progress or, called while none runs, the next one; Run may be called
// again after it returned. A Stop stays until a Run returns nil: one that
// a Run returning an error did not honour (it failed first) ends the next.
func (ing *Ingester) Stop() {
	ing.stopMu.Lock()
	defer ing.stopMu.Unlock()
	if !ing.stopClosed {
		close(ing.stopCh)
		ing.stopClosed = true
	}
}

// rearmStop makes a Stop that ended a Run end only that one: called when
// Run returns err, it re-arms only if err is nil. A Run that fails (before
// it looked at a Stop, or while the Stop arrived) leaves it for the next.
func (ing *Ingester) rearmStop(err error) {
	ing.stopMu.Lock()
	defer ing.stopMu.Unlock()
	if ing.stopClosed && err == nil {
		ing.stopCh, ing.stopClosed = make(chan struct{}), false
	}
}

// ErrCheckpointBeyondLedgerEnd is returned (wrapped) when the stored
// checkpoint stays beyond the participant's ledger end for longer than
// MaxAttempts polls: one from Config.StartOffset (a checkpoint the
// participant streamed is ErrParticipantRestored at once).
var ErrCheckpointBeyondLedgerEnd = errors.New("ingest: checkpoint offset is beyond the participant's ledger end")

// errEndBeyondLedgerEnd marks the wait for a ledger end short of
// Config.EndOffset: the checkpoint is not beyond the ledger end then.
var errEndBeyondLedgerEnd = errors.New("ingest: waiting for the ledger end to reach the end offset")

// ErrPartiesChanged is returned (wrapped) by Run when Config.Parties, as a
// set, differ from the treasury parties the Integration DB recorded with
// its checkpoint: Run resumes from the checkpoint, so the transactions of
// an added party before its offset would never be ingested (its earlier
// deposits never credited). The error names both sets and the offset.
// Ingest a new party into an Integration DB (schema) of its own, or set
// Config.AcceptPartiesChange to go on knowingly. Run does not retry it.
var ErrPartiesChanged = errors.New("ingest: Config.Parties differ from the parties the Integration DB was ingested for")

// ErrRunning is returned by Run called while another Run of the same
// Ingester is running: one Ingester runs one Run at a time.
var ErrRunning = errors.New("ingest: Run called while this Ingester is already running")

// Run ingests until ctx ends (returning ctx's error), Stop is called or
// EndOffset is reached (returning nil), or a fault that no retry can fix
// occurs (returning it). Transient faults — an unavailable participant, a
// broken stream, a lost database connection — are retried with backoff; every
// retry resumes from the committed checkpoint, so nothing is lost or applied
// twice. Run called while another Run of the Ingester runs returns
// ErrRunning at once, changing nothing of the one running. When Run
// returns, however it returns, the ingestion lock is released (unlocked on
// its session; one the database lost meanwhile goes when PostgreSQL ends
// that session), so that recovery.CheckStopped or another Ingester run
// right after finds ingestion stopped.
func (ing *Ingester) Run(ctx context.Context) (err error) {
	if !ing.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer ing.running.Store(false)
	defer ing.stats.setState(StateStopped)
	defer func() { ing.rearmStop(err) }()
	// Not the state a Run before this one returned with ("stopped") until
	// this one has a state of its own, nor the checkpoint it loaded: until
	// this one loads it, another ingester may move it (LedgerEndLag).
	ing.stats.setState(StateStarting)
	ing.stats.loaded.Store(false)
	if err := ing.checkPool(); err != nil {
		return err
	}
	lock, err := ing.acquireLock(ctx)
	if errors.Is(err, errStopped) {
		return nil
	}
	if err != nil {
		return err
	}
	ing.lock = lock
	defer func() { ing.lock.release() }()
	cp, err := ing.loadCheckpointBeforeStream(ctx)
	if errors.Is(err, errStopped) {
		return nil
	}
	if err != nil {
		return err
	}
	ing.useCheckpoint(cp)
	ing.log.Info("ingest: starting", logattr.Known("offset", cp.Offset, "update_id", cp.UpdateID, "record_time", cp.RecordTime)...)

	// Failures since the last progress, per kind: database faults (a
	// commit's own retries count there too) and the rest (the stream, the
	// participant, the lock).
	var failures [2]int
	for {
		if ing.done() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if ing.stopped() {
			return nil
		}
		if !ing.lock.healthy(ctx) {
			// The database dropped our session (a restart): the lock went
			// with it. Take it again before writing anything.
			ing.lock.release()
			ing.lock = nil
			lock, err := ing.acquireLock(ctx)
			if err != nil {
				if errors.Is(err, errStopped) {
					return nil
				}
				return err
			}
			ing.lock = lock
			cp, err := ing.loadCheckpointBeforeStream(ctx)
			if errors.Is(err, errStopped) {
				return nil
			}
			if err != nil {
				return err
			}
			ing.useCheckpoint(cp)
		}
		progressed, err := ing.session(ctx)
		if err == nil || errors.Is(err, errStopped) {
			return nil
		}
		if errors.Is(err, errEndedShort) {
			failures = [2]int{}
			ing.log.Debug(err.Error(), "offset", ing.cp.Offset, "end_offset", ing.cfg.EndOffset)
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, checkpoint.ErrConflict) && ing.lock != nil {
			if !ing.lock.healthy(ctx) {
				// We lost the lock (between two checks), another ingester
				// took it and moved the checkpoint: nothing of ours
				// committed past it. Wait for the lock again instead of
				// failing.
				err = fmt.Errorf("%w: %w", errLockLost, err)
			} else {
				// We hold the lock, yet the checkpoint moved: the ingester
				// we took it from committed before its next check noticed
				// that it had lost it. It stops committing at that check,
				// or at its first commit that meets one of ours; resume
				// from what it committed. Nothing is received since: the
				// read, and its wait for a pool connection, end at Stop
				// as the checkpoint's load does when Run starts.
				cp, lerr := ing.loadCheckpointBeforeStream(ctx)
				if errors.Is(lerr, errStopped) {
					return nil
				}
				if lerr != nil {
					if !IsTransientDBError(lerr) {
						// A database fault loadCheckpoint counted.
						ing.stats.errorOf(lerr)
					}
					return lerr
				}
				if cp.Offset < ing.cp.Offset {
					// A lost lock's race only moves the checkpoint
					// forward: this one went back.
					err = fmt.Errorf("%w (from offset %d to %d): %w", errCheckpointBack, ing.cp.Offset, cp.Offset, err)
				} else {
					err = fmt.Errorf("%w (now offset %d): %w", errCheckpointMoved, cp.Offset, err)
				}
				ing.useCheckpoint(cp)
			}
		}
		if !retryable(err) {
			if !errors.As(err, new(gaveUp)) {
				// A batch given up on counted each of its attempts
				// where it failed (commit): not its last again.
				ing.stats.errorOf(err)
			}
			return err
		}
		if progressed {
			failures = [2]int{}
		}
		kind := 0
		if IsTransientDBError(err) {
			kind = 1
		}
		failures[kind]++
		ing.stats.errorOf(err)
		// The stream's offset beyond the ledger end, not one of a call a
		// Handler made to a participant of its own (a fault to retry).
		beyond := errors.Is(err, ledger.ErrOffsetAfterLedgerEnd) && !errors.As(err, new(*handlerError))
		if ing.cfg.MaxAttempts > 0 && failures[kind] >= ing.cfg.MaxAttempts {
			if beyond && !errors.Is(err, errEndBeyondLedgerEnd) {
				err = fmt.Errorf("%w: %w", ErrCheckpointBeyondLedgerEnd, err)
			}
			return fmt.Errorf("ingest: giving up after %d attempts: %w", failures[kind], err)
		}
		wait := ing.backoff(failures[kind])
		ing.stats.setState(StateRetrying)
		if beyond {
			if errors.Is(err, errEndBeyondLedgerEnd) {
				// Waiting for the ledger end to reach EndOffset: the
				// checkpoint is not beyond it, nothing to check.
			} else if rerr := ing.checkRestoredUntilStop(ctx); rerr != nil {
				ing.stats.errorOf(rerr)
				return rerr
			}
			wait = ing.cfg.LedgerEndPoll
			ing.stats.setState(StateWaitingLedgerEnd)
		}
		ing.log.Warn("ingest: retrying", "offset", ing.cp.Offset, "attempt", failures[kind], "in", wait, "err", redactErr(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ing.stopCh:
			return nil
		case <-time.After(wait):
		}
	}
}

func (ing *Ingester) done() bool {
	return ing.cfg.EndOffset > 0 && ing.cp.Offset >= ing.cfg.EndOffset
}

func (ing *Ingester) stopped() bool {
	select {
	case <-ing.stopCh:
		return true
	default:
		return false
	}
}

// useCheckpoint makes cp, read from the database, the committed
// checkpoint. Whether a replay after a rewind is under way is read from it
// again (session): one this process was in may have been ended meanwhile
// by the ingester that held the lock.
func (ing *Ingester) useCheckpoint(cp checkpoint.Checkpoint) {
	ing.cp, ing.replayUntil = cp, ""
	ing.stats.setCheckpoint(cp)
}

func (ing *Ingester) loadCheckpoint(ctx context.Context) (checkpoint.Checkpoint, error) {
	var cp checkpoint.Checkpoint
	attempt := 0
	for {
		err := ing.checkSchemaVersion(ctx)
		if err == nil {
			cp, err = ing.cps.Init(ctx, ing.db, ing.cfg.StartOffset, ing.cfg.Parties...)
			if err == nil {
				cp, err = ing.checkParties(ctx, cp)
				if err == nil || errors.Is(err, ErrPartiesChanged) {
					return cp, err
				}
			}
		}
		attempt++
		if ctx.Err() != nil {
			// The fault is the shutdown's, most likely: Run returns ctx's error.
			return cp, ctx.Err()
		}
		if !IsTransientDBError(err) {
			return cp, fmt.Errorf("ingest: load checkpoint: %w", redactErr(err))
		}
		// Counted as acquireLock counts its attempts: each that failed,
		// the last too (Run counts none of these errors).
		ing.stats.errorOf(err)
		if ing.cfg.MaxAttempts > 0 && attempt >= ing.cfg.MaxAttempts {
			return cp, fmt.Errorf("ingest: load checkpoint: %w", redactErr(err))
		}
		wait := ing.backoff(attempt)
		ing.log.Warn("ingest: database unavailable, retrying", "attempt", attempt, "in", wait, "err", redactErr(err))
		select {
		case <-ctx.Done():
			return cp, ctx.Err()
		case <-ing.stopCh:
			return cp, errStopped // nothing received yet: nothing to commit
		case <-time.After(wait):
		}
	}
}

// checkParties compares the parties cp recorded with Config.Parties, as
// sets. It records Config.Parties when cp has none recorded (a checkpoint
// from before schema version 010) or, under Config.AcceptPartiesChange,
// when they differ, unless another ingester recorded parties since cp was
// read (then it compares with those); otherwise a difference is
// ErrPartiesChanged. It runs
// wherever Run loads the checkpoint, so also after taking the lock again:
// the ingester that held it meanwhile may have recorded other parties.
func (ing *Ingester) checkParties(ctx context.Context, cp checkpoint.Checkpoint) (checkpoint.Checkpoint, error) {
	want := checkpoint.NormalizeParties(ing.cfg.Parties)
	if slices.Equal(cp.Parties, want) {
		return cp, nil
	}
	if cp.Parties != nil && !ing.cfg.AcceptPartiesChange {
		return cp, fmt.Errorf("%w: the checkpoint at offset %d was ingested for the parties %q, Config.Parties are %q: the transactions of an added party before offset %d would never be ingested (nor those of a removed one after it); ingest a new party into an Integration DB (schema) of its own, or set Config.AcceptPartiesChange to go on knowingly",
			ErrPartiesChanged, cp.Offset, cp.Parties, want, cp.Offset)
	}
	if err := ing.cps.SetParties(ctx, ing.db, cp.Parties, want); errors.Is(err, checkpoint.ErrPartiesConflict) {
		// Another ingester (LockNone) recorded its parties since cp was
		// read: compare with those.
		now, found, gerr := ing.cps.Get(ctx, ing.db)
		if gerr != nil || !found || slices.Equal(now.Parties, cp.Parties) {
			return cp, errors.Join(err, gerr) // the parties read are unchanged: retrying would not end
		}
		return ing.checkParties(ctx, now)
	} else if err != nil {
		return cp, err
	}
	if cp.Parties == nil {
		ing.log.Info("ingest: recorded the treasury parties with the checkpoint", "parties", want, "offset", cp.Offset)
	} else {
		ing.log.Warn("ingest: Config.Parties changed, accepted (AcceptPartiesChange): the transactions of the added parties before the checkpoint offset are not ingested, nor those of the removed parties from it on",
			"offset", cp.Offset, "recorded", cp.Parties, "parties", want,
			"added", notIn(want, cp.Parties), "removed", notIn(cp.Parties, want))
	}
	cp.Parties = want
	return cp, nil
}

// notIn returns the elements of a that b lacks.
func notIn(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// checkSchemaVersion refuses a schema that is not at this build's version
// (schema.CheckCurrent): one behind it (schema.ErrNotMigrated) lacks what
// the handlers write, and their refusals would read as poison; one a newer
// release migrated (schema.ErrUnknownVersion) is not this build's to
// write. It runs once the lock is held, not only when the process starts:
// a standby of the previous release waiting for the lock must not take
// over the schema the newer release migrated meanwhile. Each batch checks
// again in its transaction (start, schema.CheckCurrentTx), so that one
// running when the newer release migrates stops at its next batch.
func (ing *Ingester) checkSchemaVersion(ctx context.Context) error {
	return schema.CheckCurrent(ctx, ing.db, schema.WithSchema(ing.cfg.Schema))
}

// backoff returns an exponential delay with full jitter in [d/2, d].
func (ing *Ingester) backoff(attempt int) time.Duration {
	d := ing.cfg.MinBackoff
	for i := 1; i < attempt && d < ing.cfg.MaxBackoff; i++ {
		d *= 2
	}
	if d > ing.cfg.MaxBackoff {
		d = ing.cfg.MaxBackoff
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// item is one decoded update or the error that ended the stream.
type item struct {
	u    ledger.Update
	err  error
	prep any // what the Handler's Prepare returned for u's transaction
	size int // u's size as it arrived, held in the session's byteBudget
}

// session opens one stream from the committed checkpoint and ingests from it
// until it ends. It returns nil when Run should return nil, and whether it
// committed anything.
func (ing *Ingester) session(ctx context.Context) (progressed bool, err error) {
	// Nothing is received before the stream opens: Stop ends the calls
	// that wait for the participant until then. A call it cut short fails
	// as cancelled (grpc-go's CANCELED is ledger.ErrStreamBroken); an
	// answer that came with the Stop (a restored participant) stands.
	// The Source is the exchange's code, which may panic: cancelAtStop is
	// deferred, or its goroutine would wait for a Stop or the end of ctx
	// after the panic reached Run's caller.
	var stopped bool
	err = func() error {
		pctx, cancelAtStop := ing.untilStop(ctx)
		defer cancelAtStop()
		err := ing.beforeStream(pctx)
		stopped = pctx.Err() != nil && ctx.Err() == nil
		return err
	}()
	if err != nil {
		if stopped && (errors.Is(err, context.Canceled) || errors.Is(err, ledger.ErrStreamBroken)) {
			return false, errStopped
		}
		return false, err
	}
	ing.stats.setState(StateStreaming)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := ledger.UpdatesRequest{
		BeginExclusive: ing.cp.Offset,
		EndInclusive:   ing.cfg.EndOffset,
		Filter:         ledger.Filter{Parties: ing.cfg.Parties, Interfaces: ing.cfg.Interfaces},
	}
	stream, err := ing.src.Updates(sctx, req)
	if err != nil {
		return false, ing.annotate(err)
	}
	defer stream.Close()
	opened := time.Now()

	items := make(chan item, ing.cfg.StreamBuffer)
	budget := newByteBudget(ing.cfg.StreamBufferBytes)
	preparer, _ := ing.cfg.Handler.(Preparer)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(items)
		// preparing is the transaction in Prepare: if Prepare ends this
		// goroutine (runtime.Goexit), the closed channel would read as the
		// end of the stream and Run would return nil; it fails instead.
		var preparing *ledger.Transaction
		defer func() {
			if preparing != nil {
				err := fmt.Errorf("ingest: Prepare %w on transaction %s at offset %d", errGoexit, preparing.UpdateID, preparing.Offset)
				ing.log.Error(err.Error())
				select {
				case items <- item{err: err}:
				case <-sctx.Done():
				}
			}
		}()
		for {
			u, err := stream.Recv()
			size := 0
			if err == nil {
				size = stream.WireSize()
				if !budget.acquire(sctx, size) {
					return
				}
			}
			var prep any
			if err == nil && preparer != nil && u.Kind == ledger.UpdateTransaction && u.Transaction != nil {
				preparing = u.Transaction
				prep = ing.prepare(preparer, u.Transaction)
				preparing = nil
			}
			select {
			case items <- item{u: u, err: err, prep: prep, size: size}:
			case <-sctx.Done():
				return
			}
			if _, ok := settable(err); ok && ing.cfg.Poison == PoisonSetAside {
				continue // the stream itself is fine: read on
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	var stall *time.Timer
	var stallC <-chan time.Time
	if ing.cfg.StallTimeout > 0 && ing.cfg.EndOffset == 0 {
		stall = time.NewTimer(ing.cfg.StallTimeout)
		defer stall.Stop()
		stallC = stall.C
	}
	var lockC <-chan time.Time
	if ing.lock != nil && ing.cfg.LockCheck > 0 {
		t := time.NewTicker(ing.cfg.LockCheck)
		defer t.Stop()
		lockC = t.C
	}
	pipe := newPipeline(ctx, ing, budget)
	defer func() {
		// A batch still in flight (an error return): its outcome counts,
		// but it is not retried here.
		_, _ = pipe.wait(false)
		progressed = progressed || pipe.progressed
	}()
	if ing.cp.UpdateOffset == 0 && ing.cp.UpdateID != "" {
		ing.replayUntil = ing.cp.UpdateID // rewound: the replay begins
	}
	b := newBuilder(ing.cp, ing.replayUntil)
	var batchTimer *time.Timer
	var batchC <-chan time.Time
	flush := func() error {
		if batchTimer != nil {
			batchTimer.Stop()
			batchTimer, batchC = nil, nil
		}
		if b.empty() || b.idle() {
			// Updates that changed nothing, if any: checkpoints repeating
			// the offset and record times are counted, not committed.
			ing.stats.checkpointsSeen(len(b.cps))
			if len(b.cps) > 0 {
				// The participant answers: progress for MaxAttempts, as
				// the commit this replaces was.
				pipe.progressed = true
			}
			budget.release(b.bytes)
			b = newBuilder(pipe.tip(), b.replayUntil)
			return nil
		}
		if err := pipe.submit(b); err != nil {
			return err
		}
		b = newBuilder(pipe.tip(), b.replayUntil)
		return nil
	}
	// settle commits what was received and waits until it has committed.
	settle := func() error {
		if err := flush(); err != nil {
			return err
		}
		_, err := pipe.wait(true)
		return err
	}
	for {
		// Stop is honoured between any two updates, not only when the
		// stream is quiet: during a catch-up updates are always waiting.
		if ing.stopped() {
			return progressed, settle()
		}
		var it item
		var ok bool
		select {
		case it, ok = <-items:
		case <-lockC:
			if !ing.lock.healthy(ctx) {
				return progressed, errLockLost
			}
			continue
		default:
			// Nothing waiting: commit what we have before blocking, so that
			// a quiet stream is ingested with low latency. Under load the
			// batch grows by itself: updates queue up while a commit runs.
			// While the batch before is still committing, the batch goes on
			// growing until that commit is done.
			if !b.empty() && pipe.done() == nil {
				if err := flush(); err != nil {
					return progressed, err
				}
			}
			select {
			case it, ok = <-items:
			case ferr := <-pipe.done():
				if _, err := pipe.settle(ferr, true); err != nil {
					return progressed, err
				}
				continue
			case <-batchC:
				if err := flush(); err != nil {
					return progressed, err
				}
				continue
			case <-lockC:
				if !ing.lock.healthy(ctx) {
					return progressed, errLockLost
				}
				continue
			case <-stallC:
				if budget.blocked() {
					// Reading waits for a commit to free StreamBufferBytes
					// (a transaction bigger than it commits alone): the
					// stream is not silent, we are not reading it.
					stall.Reset(ing.cfg.StallTimeout)
					continue
				}
				if err := settle(); err != nil {
					return progressed, err
				}
				return progressed, fmt.Errorf("%w: no update or checkpoint for %s", errStalled, ing.cfg.StallTimeout)
			case <-ing.stopCh:
				return progressed, settle()
			case <-ctx.Done():
				return progressed, ctx.Err()
			}
		}
		if !ok {
			// The reader stopped because sctx ended.
			return progressed, ctx.Err()
		}
		if de, ok := settable(it.err); ok && ing.cfg.Poison == PoisonSetAside {
			if err := b.addPoison(de); err != nil {
				return progressed, err
			}
			continue
		}
		if it.err != nil {
			// Keep what arrived before the fault.
			if ferr := settle(); ferr != nil {
				return progressed, ferr
			}
			if it.err == io.EOF {
				if ing.cfg.EndOffset == 0 {
					// A tailing stream has no end: one closed with status
					// OK was ended by the participant or a proxy, and Run
					// must not take it for Stop.
					return progressed || ing.servedLong(opened), errStreamEnded
				}
				if ing.cp.Offset < ing.cfg.EndOffset {
					if progressed || pipe.progressed {
						// A bounded stream ended with status OK before the
						// end offset. Only a stream that delivered nothing
						// shows that nothing else is left: this one may have
						// been cut short (a proxy). Ask again from here.
						return true, errEndedShort
					}
					// The participant has nothing between our checkpoint and the end.
					if err := ing.advanceEmpty(ctx, ing.cfg.EndOffset); err != nil {
						return progressed, err
					}
				}
				return progressed, nil
			}
			return progressed || ing.servedLong(opened), ing.annotate(it.err)
		}
		if stall != nil {
			stall.Reset(ing.cfg.StallTimeout)
		}
		if it.u.Kind == ledger.UpdateOther {
			budget.release(it.size)
			continue
		}
		if err := b.add(it.u, it.prep); err != nil {
			return progressed, err
		}
		b.bytes += it.size
		if batchC == nil {
			batchTimer = time.NewTimer(ing.cfg.MaxBatchDelay)
			batchC = batchTimer.C
		}
		if len(b.txs) >= ing.cfg.MaxBatchSize {
			if err := flush(); err != nil {
				return progressed, err
			}
		}
		if ing.cfg.EndOffset > 0 && b.cp.Offset >= ing.cfg.EndOffset {
			if err := settle(); err != nil {
				return progressed, err
			}
			return progressed, nil
		}
	}
}

// servedLong reports whether a stream opened at opened ran for at least
// MaxBackoff, the longest wait between two attempts, before the participant
// or something in between ended it: progress for MaxAttempts. A proxy or
// load balancer ends connections at a maximum age or an idle timeout, or
// restarts, which is normal churn, not a participant failing; a quiet
// stream cut so brings no commit or OffsetCheckpoint to show it worked, and
// counted as failures in a row it would end Run after MaxAttempts cuts and
// make every reconnect wait MaxBackoff. A stream refused or broken sooner
// counts as a failure; so does a stall, which is the Ingester's own verdict.
func (ing *Ingester) servedLong(opened time.Time) bool {
	return time.Since(opened) >= ing.cfg.MaxBackoff
}

// beforeStream checks, before a session opens its stream, that the
// participant's ledger end has reached what the stream asks for and that
// the participant still has the last ingested transaction where it was.
func (ing *Ingester) beforeStream(ctx context.Context) error {
	if ing.cfg.EndOffset > 0 {
		end, err := ing.src.LedgerEnd(ctx)
		if err != nil {
			return fmt.Errorf("ingest: read the ledger end before streaming from checkpoint offset %d: %w", ing.cp.Offset, err)
		}
		if end < ing.cp.Offset {
			return fmt.Errorf("%w: checkpoint offset %d is beyond the ledger end %d", ledger.ErrOffsetAfterLedgerEnd, ing.cp.Offset, end)
		}
		if end < ing.cfg.EndOffset {
			return fmt.Errorf("%w: %w: end offset %d is beyond the ledger end %d", errEndBeyondLedgerEnd, ledger.ErrOffsetAfterLedgerEnd, ing.cfg.EndOffset, end)
		}
	}
	return ing.verifyPosition(ctx)
}

// untilStop returns a context that ends with ctx or at Stop, and its
// cancel function, which must be called.
func (ing *Ingester) untilStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stopCh := ing.stopCh
	go func() {
		select {
		case <-stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// prepare calls p.Prepare(t). A panic there is logged and taken as no
// result: HandleBatch then does that work itself, in the committing
// goroutine, where a fault in the transaction shows up as it always did.
func (ing *Ingester) prepare(p Preparer, t *ledger.Transaction) (out any) {
	defer func() {
		if r := recover(); r != nil {
			ing.log.Error("ingest: Prepare panicked; the transaction is handled without its result",
				"offset", t.Offset, "update_id", t.UpdateID, "panic", Redact(fmt.Sprint(r)))
			out = nil
		}
	}()
	return p.Prepare(t)
}

var errStalled = errors.New("ingest: update stream stalled")

// errEndedShort ends a session whose bounded stream ended with status OK
// before EndOffset after it delivered something: Run opens another at once,
// from the checkpoint. It is not a fault.
var errEndedShort = errors.New("ingest: the bounded update stream ended before the end offset; asking again from the checkpoint")

// errStreamEnded ends a session whose tailing stream the participant closed
// with status OK; Run opens a new one from the checkpoint.
var errStreamEnded = errors.New("ingest: the participant ended the update stream (status OK); resuming from the checkpoint")

// errLockLost ends a session whose lock connection is gone (Config.LockCheck);
// Run takes the lock again before the next one.
var errLockLost = errors.New("ingest: the connection holding the ingestion lock is gone; taking the lock again")

// errCheckpointMoved ends a session whose commit met a checkpoint that
// another writer moved while this Ingester held the lock: the ingester it
// took the lock from, before that one's next check (Config.LockCheck). Run
// resumes from the stored checkpoint.
var errCheckpointMoved = errors.New("ingest: the checkpoint moved while this ingester held the lock (the ingester that had it before committed before noticing it had lost it); resuming from the stored checkpoint")

// errCheckpointBack ends a session whose commit met a checkpoint behind the
// one this Ingester committed last while it held the lock: the Integration
// DB was restored from a backup underneath it (or rewound by hand). Run
// resumes from the stored checkpoint, as a restart would; the withdrawal
// gate restored with it is the backup's, which the restore procedure
// closes.
var errCheckpointBack = errors.New("ingest: the stored checkpoint went back while this ingester held the lock: the Integration DB was restored from a backup underneath it; resuming from the stored checkpoint. Stop ingestion (standby instances too) for a restore, and run the Integration DB restore procedure (withdrawal.RestoreProcedure) if no one is running it")

// byteBudget bounds the bytes of the updates a session has read and not
// yet committed (Config.StreamBufferBytes). The stream's reader acquires an
// update's size before handing it on; the size is released when its batch
// has committed. One goroutine acquires, one releases.
type byteBudget struct {
	mu      sync.Mutex
	limit   int
	used    int
	waiting bool          // acquire waits for a release
	freed   chan struct{} // a release happened (capacity 1: one waiter)
}

func newByteBudget(limit int) *byteBudget {
	return &byteBudget{limit: limit, freed: make(chan struct{}, 1)}
}

// acquire waits until n more bytes fit, or until nothing is held (so that
// an update bigger than the limit is read alone rather than never). It
// returns false if ctx ends first.
func (b *byteBudget) acquire(ctx context.Context, n int) bool {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.used += n
			b.waiting = false
			b.mu.Unlock()
			return true
		}
		b.waiting = true
		b.mu.Unlock()
		select {
		case <-b.freed:
		case <-ctx.Done():
			b.mu.Lock()
			b.waiting = false
			b.mu.Unlock()
			return false
		}
	}
}

// blocked reports whether acquire is waiting for a release: reading waits
// for a commit, not for the participant.
func (b *byteBudget) blocked() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting
}

func (b *byteBudget) release(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

// advanceEmpty moves the checkpoint to offset with nothing else to write (a
// bounded stream that ended before its end offset had nothing for us).
func (ing *Ingester) advanceEmpty(ctx context.Context, offset int64) error {
	b := newBuilder(ing.cp, ing.replayUntil)
	b.cp.Offset = offset
	b.touched = true
	return ing.commit(ctx, b, nil)
}

// annotate adds the checkpoint to a stream error.
func (ing *Ingester) annotate(err error) error {
	var de *ledger.DecodeError
	if errors.As(err, &de) {
		return fmt.Errorf("ingest: bad update after checkpoint offset %d: %w", ing.cp.Offset, err)
	}
	return fmt.Errorf("ingest: stream from offset %d: %w", ing.cp.Offset, err)
}

// Stats returns a snapshot of the ingestion statistics. Safe to call from any goroutine.
func (ing *Ingester) Stats() Stats { return ing.stats.snapshot() }

// LedgerEndLag asks the participant for its ledger end and returns how many
// offsets the checkpoint is behind it: the stored checkpoint until Run has
// loaded it (before Run, and while a standby waits for the lock).
func (ing *Ingester) LedgerEndLag(ctx context.Context) (int64, error) {
	loaded := ing.stats.loaded.Load() // before the snapshot, which then has the checkpoint's offset
	offset := ing.stats.snapshot().Offset
	if !loaded {
		// Not run yet, or a standby waiting for the lock: the checkpoint is
		// the stored one, which another ingester may be moving.
		cp, _, err := ing.cps.Get(ctx, ing.db)
		if err != nil {
			return 0, fmt.Errorf("ingest: reading the checkpoint: %w", redactErr(err))
		}
		offset = cp.Offset
		// Stats says so too, so that the checkpoint offset, its record
		// times and the lag an exporter shows agree (and move with the
		// active ingester's commits).
		ing.stats.setStored(cp)
	}
	asked := time.Now()
	end, err := ing.src.LedgerEnd(ctx)
	if err != nil {
		return 0, err
	}
	lag := end - offset
	ing.stats.measuredLag(lag, asked)
	return lag, nil
}

// UpdateLookup is the optional part of a Source that lets the Ingester tell
// a participant that is behind (wait for it) from one restored from a backup
// (stop): *ledger.Client implements it.
type UpdateLookup interface {
	UpdateByID(ctx context.Context, updateID string, f ledger.Filter) (*ledger.Transaction, error)
}

// PositionVerifier is the optional part of a Source that lets the Ingester
// check, before each stream, that the participant still has the last
// ingested transaction at the offset it was ingested at: *ledger.Client
// implements it.
type PositionVerifier interface {
	UpdateLookup
	PrunedOffsets(ctx context.Context) (ledger.PrunedOffsets, error)
}

// verifyPosition stops ingestion before it resumes from an offset that
// means something else on a participant restored from a backup: the last
// ingested transaction must be known to the participant at the offset it
// was ingested at. It cannot tell once that offset is pruned.
//
// In the replay after a rewind (UpdateOffset unknown) the replay has not
// reached the last ingested transaction yet: the participant must know it
// above the checkpoint offset. A participant restored again since the
// rewind, under lower offsets, has it at or below the checkpoint offset
// (or not yet), and resuming from that offset would skip in silence what
// the new offsets put in between.
func (ing *Ingester) verifyPosition(ctx context.Context) error {
	v, ok := ing.src.(PositionVerifier)
	if !ok || ing.cp.UpdateID == "" {
		return nil
	}
	tx, err := v.UpdateByID(ctx, ing.cp.UpdateID, ledger.Filter{Parties: ing.cfg.Parties, Interfaces: []ledger.Identifier{}})
	if ing.cp.UpdateOffset == 0 {
		switch {
		case errors.Is(err, ledger.ErrNotFound):
			// Pruning happens at or below the checkpoint, and the replay
			// has not reached this transaction: it is not pruned.
			return &RestoredError{Offset: ing.cp.Offset, UpdateID: ing.cp.UpdateID, SynchronizerID: ing.cp.SynchronizerID,
				Reason: "in the replay after a rewind, the participant does not know the last transaction ingested before it (restored from a backup again, perhaps still catching up)" + ing.notShown()}
		case err != nil:
			return fmt.Errorf("ingest: verify the last ingested transaction %s (checkpoint offset %d): %w", ing.cp.UpdateID, ing.cp.Offset, err)
		case tx.Offset <= ing.cp.Offset:
			return &RestoredError{Offset: ing.cp.Offset, UpdateID: ing.cp.UpdateID, SynchronizerID: ing.cp.SynchronizerID,
				Reason: fmt.Sprintf("in the replay after a rewind, the participant has the last transaction ingested before it at offset %d, not after the checkpoint offset %d", tx.Offset, ing.cp.Offset)}
		}
		return nil
	}
	if errors.Is(err, ledger.ErrNotFound) {
		po, perr := v.PrunedOffsets(ctx)
		if perr != nil {
			return fmt.Errorf("ingest: verify the last ingested transaction %s (checkpoint offset %d): read the pruning offset: %w", ing.cp.UpdateID, ing.cp.Offset, perr)
		}
		if ing.cp.UpdateOffset <= po.ParticipantPrunedUpToInclusive {
			return nil
		}
		return &RestoredError{Offset: ing.cp.UpdateOffset, UpdateID: ing.cp.UpdateID, SynchronizerID: ing.cp.SynchronizerID,
			Reason: "the participant does not know the last ingested transaction (restored from a backup, perhaps still catching up)" + ing.notShown()}
	}
	if err != nil {
		return fmt.Errorf("ingest: verify the last ingested transaction %s (checkpoint offset %d): %w", ing.cp.UpdateID, ing.cp.Offset, err)
	}
	if tx.Offset != ing.cp.UpdateOffset {
		return &RestoredError{Offset: ing.cp.UpdateOffset, UpdateID: ing.cp.UpdateID, SynchronizerID: ing.cp.SynchronizerID,
			Reason: fmt.Sprintf("the last ingested transaction was ingested at offset %d but the participant now has it at offset %d", ing.cp.UpdateOffset, tx.Offset)}
	}
	return nil
}

// checkRestored runs when the checkpoint is beyond the ledger end. A
// checkpoint the participant's own stream brought there (a transaction, an
// OffsetCheckpoint, a bounded catch-up's end, all at or below its ledger end
// then) means the ledger end went back: the participant was restored from a
// backup. Offsets after the last ingested transaction may have changed
// (lost participant-local updates renumber the ones after them), so
// waiting for the ledger end to pass the checkpoint and resuming there
// could skip in silence what the restored node numbers at or below it.
// Only a checkpoint from Config.StartOffset (nothing streamed yet) is
// waited for. The look-up of the last ingested transaction only makes the
// reason precise.
func (ing *Ingester) checkRestored(ctx context.Context) error {
	if ing.cp.UpdateID == "" && len(ing.cp.RecordTimes) == 0 {
		return nil
	}
	restored := &RestoredError{Offset: ing.cp.Offset, UpdateID: ing.cp.UpdateID, SynchronizerID: ing.cp.SynchronizerID,
		Reason: fmt.Sprintf("the participant's ledger end went back below the checkpoint offset %d, which it streamed before", ing.cp.Offset)}
	lookup, ok := ing.src.(UpdateLookup)
	if !ok || ing.cp.UpdateID == "" {
		return restored
	}
	tx, err := lookup.UpdateByID(ctx, ing.cp.UpdateID, ledger.Filter{Parties: ing.cfg.Parties, Interfaces: []ledger.Identifier{}})
	if errors.Is(err, ledger.ErrNotFound) {
		pruned := false
		if v, ok := ing.src.(PositionVerifier); ok && ing.cp.UpdateOffset != 0 {
			po, perr := v.PrunedOffsets(ctx)
			pruned = perr == nil && ing.cp.UpdateOffset <= po.ParticipantPrunedUpToInclusive
		}
		if !pruned {
			restored.Reason = "the checkpoint is beyond the ledger end and the participant does not know the last ingested transaction" + ing.notShown()
		}
		return restored
	}
	if err != nil {
		return restored
	}
	// The offset the transaction was last seen at: the checkpoint's. After
	// a replay it may be one dedup dropped, whose row keeps the offset it
	// was first ingested at; that row serves only when the checkpoint does
	// not know (right after a rewind).
	stored, found := ing.cp.UpdateOffset, ing.cp.UpdateOffset != 0
	if !found {
		stored, found, err = ing.dedup.OffsetOf(ctx, ing.db, ing.cp.UpdateID)
	}
	if err == nil && found && stored != tx.Offset {
		restored.Reason = fmt.Sprintf("the last ingested transaction was ingested at offset %d but the participant now has it at offset %d", stored, tx.Offset)
	}
	return restored
}

// notShown adds to a verdict drawn from a NOT_FOUND for the last ingested
// transaction what else that answer means: the participant does not show
// it to the parties it was looked up with (a configuration that changed
// since it was ingested, or another participant).
func (ing *Ingester) notShown() string {
	return fmt.Sprintf("; or it does not show it to Config.Parties %q: were the parties changed since it was ingested, or is this another participant?", ing.cfg.Parties)
}

// checkRestoredUntilStop is checkRestored, whose look-up Stop cuts short:
// it only words the verdict.
func (ing *Ingester) checkRestoredUntilStop(ctx context.Context) error {
	ctx, cancel := ing.untilStop(ctx)
	defer cancel()
	return ing.checkRestored(ctx)
}

// gaveUp marks an error after which MaxAttempts is spent: Run returns it
// instead of starting another session.
type gaveUp struct{ err error }

func (g gaveUp) Error() string { return g.err.Error() }
func (g gaveUp) Unwrap() error { return g.err }

// retryable decides whether Run should reconnect after err.
func retryable(err error) bool {
	if errors.As(err, new(gaveUp)) {
		return false
	}
	if errors.Is(err, errStalled) || errors.Is(err, errStreamEnded) || errors.Is(err, errLockLost) || errors.Is(err, errCheckpointMoved) || errors.Is(err, errCheckpointBack) || ledger.IsRetryable(err) || IsTransientDBError(err) {
		return true
	}
	return false
}
