package ledgertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/adminv30"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Defaults of the options.
const (
	// DefaultSynchronizer is the synchronizer id given to transactions that
	// name none.
	DefaultSynchronizer = "global-domain::1220aa"
	// DefaultCheckpointInterval is how long a tailing stream stays idle before
	// it reports a moved ledger end with an OffsetCheckpoint.
	DefaultCheckpointInterval = 100 * time.Millisecond
	// DefaultOffsetShift is how far the offsets of recovered transactions move
	// after a Restore.
	DefaultOffsetShift = 1000
)

// DefaultStartTime is the record time of the first transaction of a
// synchronizer when the caller gives none: 2026-01-01T00:00:00Z.
var DefaultStartTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Full gRPC method names the fake serves. Methods can also be named by their
// last element ("GetUpdates") wherever a method name is asked for.
const (
	MethodGetUpdates                  = lapiv2.UpdateService_GetUpdates_FullMethodName
	MethodGetUpdateByID               = lapiv2.UpdateService_GetUpdateById_FullMethodName
	MethodGetLedgerEnd                = lapiv2.StateService_GetLedgerEnd_FullMethodName
	MethodGetLatestPrunedOffsets      = lapiv2.StateService_GetLatestPrunedOffsets_FullMethodName
	MethodGetHighestOffsetByTimestamp = adminv30.PartyManagementService_GetHighestOffsetByTimestamp_FullMethodName
)

var methodNames = map[string]string{}

func init() {
	for _, full := range []string{MethodGetUpdates, MethodGetUpdateByID, MethodGetLedgerEnd, MethodGetLatestPrunedOffsets, MethodGetHighestOffsetByTimestamp} {
		methodNames[full] = full
		methodNames[full[strings.LastIndex(full, "/")+1:]] = full
	}
}

// fullMethod resolves a method name given in full or by its last element. An
// unknown name is a bug in the test and panics, so that a typo cannot leave a
// fault switch silently unused.
func fullMethod(m string) string {
	if full, ok := methodNames[m]; ok {
		return full
	}
	if full, ok := methodNames[strings.TrimPrefix(m, "/")]; ok {
		return full
	}
	panic(fmt.Sprintf("ledgertest: unknown method %q (want e.g. %q or %q)", m, "GetUpdates", MethodGetUpdates))
}

// Option configures a Participant.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	synchronizer  string
	startTime     time.Time
	interval      time.Duration
	token         string
	admin         AdminBehaviour
	sharedAdmin   bool
	step          int64
	listener      net.Listener
	adminListener net.Listener
	wireCache     bool
	wireCompress  bool
	cantonIDs     bool
	tls, adminTLS *tls.Config // nil: plaintext (tls.go)
	serverOpts    []grpc.ServerOption
}

// WithCantonUpdateIDs makes the update ids the participant assigns as long
// as a Canton participant's: "1220" and 64 hex digits (a hash of
// "upd-<n>"), instead of "upd-<n>". For benchmarks that should move as
// much text as a real stream.
func WithCantonUpdateIDs() Option {
	return optionFunc(func(c *config) { c.cantonIDs = true })
}

// WithSynchronizer sets the synchronizer id given to transactions that name
// none. Default: DefaultSynchronizer.
func WithSynchronizer(id string) Option {
	return optionFunc(func(c *config) { c.synchronizer = id })
}

// WithStartTime sets the record time of the first transaction appended to a
// synchronizer without a record time; later ones follow 1ms apart. Default:
// DefaultStartTime; the zero time is refused. Record times are kept with
// microsecond precision, as Canton does.
func WithStartTime(t time.Time) Option {
	return optionFunc(func(c *config) { c.startTime = t })
}

// WithCheckpointInterval sets how long a tailing stream must have been idle
// before it sends an OffsetCheckpoint for a ledger end that moved without a
// delivered transaction (filtered out, or AdvanceTime). After a batch that
// delivered transactions, a checkpoint follows at once if the ledger end is
// past the last one. It is also how long the ledger end must have stayed
// put, and the stream idle, before a stream at the ledger end gets a
// checkpoint repeating that offset, as Canton's cached checkpoint does.
// Default: DefaultCheckpointInterval; it must be positive.
func WithCheckpointInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.interval = d })
}

// WithToken makes every call (Ledger API and admin API) require the metadata
// "authorization: Bearer tok"; calls without it fail with UNAUTHENTICATED.
// Default: no authentication. See also [Participant.SetToken].
func WithToken(tok string) Option {
	return optionFunc(func(c *config) { c.token = tok })
}

// WithAdminBehaviour selects how GetHighestOffsetByTimestamp behaves.
// Default: AdminV35.
func WithAdminBehaviour(b AdminBehaviour) Option {
	return optionFunc(func(c *config) { c.admin = b })
}

// WithSeparateAdmin serves the admin API on its own listener (127.0.0.1:0),
// as a real participant does; the Ledger API listener then does not serve
// it. This is the default: the option remains for the code that named it.
func WithSeparateAdmin() Option {
	return optionFunc(func(c *config) { c.sharedAdmin = false })
}

// WithSharedAdmin serves the admin API on the Ledger API's listener, so that
// AdminAddr is Addr. A real participant never does: a client that sends
// admin calls to the Ledger API's address passes its tests with this option
// and fails in production. Default: a listener of its own.
func WithSharedAdmin() Option {
	return optionFunc(func(c *config) { c.sharedAdmin = true })
}

// WithOffsetStep makes offsets advance by n per appended transaction or time
// advance, so that streams see gaps even without filtering. Default 1; it
// must be positive.
func WithOffsetStep(n int64) Option {
	return optionFunc(func(c *config) { c.step = n })
}

// WithListener serves the Ledger API (and the admin API with
// WithSharedAdmin) on l instead of a new 127.0.0.1:0 listener, for example
// an in-memory listener. Close closes it, and so does New if it refuses
// the options.
func WithListener(l net.Listener) Option {
	return optionFunc(func(c *config) { c.listener = l })
}

// WithAdminListener serves the admin API on l instead of a new 127.0.0.1:0
// listener; New refuses it with WithSharedAdmin. Close closes it, and so
// does New if it refuses the options.
func WithAdminListener(l net.Listener) Option {
	return optionFunc(func(c *config) { c.adminListener = l })
}

// WithServerOptions adds gRPC server options, such as the exchange's own
// interceptors (grpc.ChainUnaryInterceptor, grpc.ChainStreamInterceptor),
// message size limits or a keepalive enforcement policy, to the Ledger
// API's server and the admin API's (with WithSharedAdmin they are one
// server). Each use adds to the options of the previous ones.
//
// They apply after the fake's keepalive enforcement (pings every 10s on the
// Ledger API, 20s on the admin API, as Canton permits), so they can change
// it, and before the fake's own options, which they cannot change: the
// credentials of WithTLS and WithAdminTLS (a grpc.Creds among them is
// ignored when TLS is configured), waiting for the handlers on Close, and
// a stats handler (beside any given here) that lets Close be called from
// within a call.
// The fake has no interceptors of its own: its token check, injected
// faults and Intercept hooks run in the handlers, after every interceptor
// given here, and Calls counts only the calls the interceptors pass on.
// An interceptor may call Close, as an Intercept hook may.
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return optionFunc(func(c *config) { c.serverOpts = append(c.serverOpts, opts...) })
}

// serverOptions returns the options of one of p's servers: its keepalive
// enforcement, then WithServerOptions', then those the caller must not
// change (see WithServerOptions).
func (p *Participant) serverOptions(permitPingsEvery time.Duration, tlsCfg *tls.Config) []grpc.ServerOption {
	opts := []grpc.ServerOption{permitPings(permitPingsEvery)}
	opts = append(opts, p.cfg.serverOpts...)
	opts = append(opts, grpc.WaitForHandlers(true), grpc.StatsHandler(callGoroutines{p}))
	return append(opts, serverCreds(tlsCfg)...)
}

// callGoroutines is a gRPC stats handler that notes, per goroutine, the
// calls it serves, from a call's beginning (before every interceptor) to its
// end: Close called from within a call must not wait for that call.
type callGoroutines struct{ p *Participant }

func (callGoroutines) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (callGoroutines) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (callGoroutines) HandleConn(context.Context, stats.ConnStats)                       {}

// HandleRPC is called with Begin and End on the goroutine that serves the
// call (with other events, which do not matter here, on any goroutine).
func (c callGoroutines) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch s.(type) {
	case *stats.Begin:
		c.p.noteCall(1)
	case *stats.End:
		c.p.noteCall(-1)
	}
}

// noteCall adds d to the calls the calling goroutine is serving.
func (p *Participant) noteCall(d int) {
	id := goroutineID()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inCall[id] += d; p.inCall[id] <= 0 {
		delete(p.inCall, id)
	}
}

// Participant is a fake Canton participant: an in-process gRPC server with
// the Ledger API v2 UpdateService and StateService and the admin
// PartyManagementService's GetHighestOffsetByTimestamp. Tests script its
// ledger (Append, AdvanceTime, Prune, Backup, Restore, CatchUp) and its
// faults (FailNext, Intercept, DropStreamsAfter, StallStreams, SetDelay), and
// observe what clients asked (Requests, Calls). All methods are safe for
// concurrent use.
type Participant struct {
	cfg       config
	lis       net.Listener
	adminLis  net.Listener
	srv       *grpc.Server
	adminSrv  *grpc.Server
	serveWG   sync.WaitGroup
	closeOnce sync.Once
	done      chan struct{}
	// stopped is closed once Close has stopped the servers and every
	// handler and server goroutine has returned.
	stopped chan struct{}
	// wireDict is the preset dictionary of a compressed wire cache
	// (WithCompressedWireCache), set by the first response cached.
	wireDict atomic.Pointer[wireDict]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change streams care about
	closed  bool

	// The participant's view: what it has processed and serves.
	log       []*entry          // offset order
	byID      map[string]*entry // visible transactions by update id
	end       int64
	endAt     time.Time // when the ledger end last moved (Restore included)
	pruned    int64
	processed map[string]time.Time // per synchronizer: latest processed record time
	jump      int64                // added once to the next offset (restore shift)
	gen       uint64               // bumped by Restore: open streams end
	// pruneEpoch is bumped by a Prune that moves the pruning offset: open
	// streams are aborted.
	pruneEpoch uint64

	// The synchronizers' view: everything ever sequenced, in sequence order.
	history   []*entry
	known     map[string]bool      // update ids in history
	sequenced map[string]time.Time // latest sequenced record time per synchronizer
	pending   []*entry             // sequenced but not processed yet (catch-up)
	autoID    int

	pkgNames  packageNames    // package names learnt from appended events
	contracts contractParties // stakeholders of the contracts appended events create

	// inCall counts, per goroutine, the calls it is serving (interceptors
	// and Intercept hooks included): Close called from one must not wait
	// for its own call.
	inCall map[uint64]int

	token      string
	tokenEpoch uint64
	admin      AdminBehaviour

	requests   []*lapiv2.GetUpdatesRequest
	calls      map[string]int
	failNext   map[string]injectedFault
	intercepts map[string]func(context.Context, proto.Message) error
	dropAfter  int
	stalled    bool
	delay      time.Duration
}

// entry is one update of the ledger: a transaction, or a synchronizer time
// advance that is not visible on the stream. Entries are immutable once
// stored (but for the wire cache); replaying one after a Restore makes a new
// entry with a new offset.
type entry struct {
	seq    uint64 // position in the synchronizer's history, stable across restores
	offset int64
	sync   string
	time   time.Time
	tx     *ledger.Transaction // nil for a time advance
	// gen, if set, makes tx's events on demand (AppendFunc): tx then holds
	// only the transaction's update id, synchronizer and times.
	gen    func(int) *ledger.Transaction
	genIdx int
	// wire caches the encoded response for one update format (WithWireCache).
	wire atomic.Pointer[wireCache]
}

type injectedFault struct {
	n    int
	code codes.Code
}

// New starts a fake participant listening on 127.0.0.1 on a free port (or on
// WithListener's listener). Close it when done.
func New(opts ...Option) (*Participant, error) {
	cfg := config{
		synchronizer: DefaultSynchronizer,
		startTime:    DefaultStartTime,
		interval:     DefaultCheckpointInterval,
		admin:        AdminV35,
		step:         1,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.check(); err != nil {
		// The caller gets no Participant to Close: close what it gave.
		for _, l := range []net.Listener{cfg.listener, cfg.adminListener} {
			if l != nil {
				_ = l.Close()
			}
		}
		return nil, err
	}
	cfg.startTime = normTime(cfg.startTime)

	lis := cfg.listener
	if lis == nil {
		var err error
		if lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("ledgertest: listen: %w", err)
		}
	}
	p := &Participant{
		cfg:        cfg,
		lis:        lis,
		done:       make(chan struct{}),
		stopped:    make(chan struct{}),
		inCall:     map[uint64]int{},
		changed:    make(chan struct{}),
		byID:       map[string]*entry{},
		processed:  map[string]time.Time{},
		known:      map[string]bool{},
		sequenced:  map[string]time.Time{},
		token:      cfg.token,
		admin:      cfg.admin,
		calls:      map[string]int{},
		failNext:   map[string]injectedFault{},
		intercepts: map[string]func(context.Context, proto.Message) error{},
	}
	p.srv = grpc.NewServer(p.serverOptions(10*time.Second, cfg.tls)...)
	lapiv2.RegisterUpdateServiceServer(p.srv, updateService{p: p})
	lapiv2.RegisterStateServiceServer(p.srv, stateService{p: p})
	if !cfg.sharedAdmin {
		adminLis := cfg.adminListener
		if adminLis == nil {
			var err error
			if adminLis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				lis.Close()
				return nil, fmt.Errorf("ledgertest: listen for the admin API: %w", err)
			}
		}
		p.adminLis = adminLis
		adminTLS := cfg.adminTLS
		if adminTLS == nil {
			adminTLS = cfg.tls
		}
		p.adminSrv = grpc.NewServer(p.serverOptions(20*time.Second, adminTLS)...)
		adminv30.RegisterPartyManagementServiceServer(p.adminSrv, adminService{p: p})
	} else {
		adminv30.RegisterPartyManagementServiceServer(p.srv, adminService{p: p})
	}
	p.serve(p.srv, p.lis)
	if p.adminSrv != nil {
		p.serve(p.adminSrv, p.adminLis)
	}
	return p, nil
}

// check refuses options that cannot make a participant.
func (cfg *config) check() error {
	switch {
	case cfg.synchronizer == "":
		return errors.New("ledgertest: synchronizer id is empty")
	case cfg.startTime.IsZero():
		return errors.New("ledgertest: start time is the zero time")
	case cfg.interval <= 0:
		return fmt.Errorf("ledgertest: checkpoint interval %v is not positive", cfg.interval)
	case cfg.step <= 0:
		return fmt.Errorf("ledgertest: offset step %d is not positive", cfg.step)
	case cfg.admin != AdminV34 && cfg.admin != AdminV35:
		return fmt.Errorf("ledgertest: unknown admin behaviour %d", cfg.admin)
	case cfg.sharedAdmin && cfg.adminListener != nil:
		return errors.New("ledgertest: WithAdminListener and WithSharedAdmin exclude each other")
	case cfg.sharedAdmin && cfg.adminTLS != nil:
		return errors.New("ledgertest: WithAdminTLS and WithSharedAdmin exclude each other")
	}
	return nil
}

// permitPings accepts a client's keepalive pings during calls as often as
// every d, as Canton's permit-keep-alive-time does (10s on the Ledger API,
// 20s on the admin API); grpc-go's default, five minutes, would answer the
// ledger client's pings with GOAWAY "too_many_pings".
func permitPings(d time.Duration) grpc.ServerOption {
	return grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: d})
}

func (p *Participant) serve(srv *grpc.Server, lis net.Listener) {
	p.serveWG.Add(1)
	go func() {
		defer p.serveWG.Done()
		_ = srv.Serve(lis) // returns when Close stops the server
	}()
}

// Addr returns the host:port of the Ledger API.
func (p *Participant) Addr() string { return p.lis.Addr().String() }

// AdminAddr returns the host:port of the admin API: a listener of its own,
// or Addr if the participant was created WithSharedAdmin.
func (p *Participant) AdminAddr() string {
	if p.adminLis != nil {
		return p.adminLis.Addr().String()
	}
	return p.Addr()
}

// Close stops the servers and ends open streams (clients see UNAVAILABLE). It
// returns once every handler and server goroutine has returned; calling it
// again waits for the same. Called from within a call (to simulate a
// crash), from an Intercept hook or from an interceptor given
// WithServerOptions, it returns at once instead, as that call cannot end
// before it does; the participant finishes closing when the call returns.
//
// After Close, Append and AppendFunc return an error. The other methods
// neither fail nor panic: they go on changing and reporting the ledger and
// the switches, which no client can reach any more (Addr and AdminAddr
// name the closed listeners).
func (p *Participant) Close() {
	p.mu.Lock()
	fromCall := p.inCall[goroutineID()] > 0
	p.mu.Unlock()
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.done)
		p.notifyLocked()
		p.mu.Unlock()
		go func() {
			p.srv.Stop()
			if p.adminSrv != nil {
				p.adminSrv.Stop()
			}
			p.serveWG.Wait()
			close(p.stopped)
		}()
	})
	if !fromCall {
		<-p.stopped
	}
}

// goroutineID returns the id of the calling goroutine, from the first line
// of its stack trace ("goroutine 18 [running]:").
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

func (p *Participant) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// ---------------------------------------------------------------------------
// Ledger contents.

// Append adds transactions to the ledger, in order, and wakes tailing
// streams. For each transaction it assigns:
//
//   - Offset: the ledger end plus the offset step (a given Offset is ignored);
//     every event's Offset is set to it too;
//   - UpdateID, if empty: "upd-<n>", unique;
//   - SynchronizerID, if empty: the default synchronizer;
//   - RecordTime, if zero: the synchronizer's latest record time plus 1ms, or
//     the start time for its first transaction;
//   - EffectiveAt, if zero: the record time.
//
// Record times are truncated to microseconds and must not decrease on a
// synchronizer (equal record times are allowed, as after participant-local
// history changes). A duplicate update id is an error, and so is a nil
// event. On any error nothing is appended.
//
// While a Restore's recovery is pending (manual catch-up), new transactions
// queue behind the recovered ones, as the synchronizer sequenced them later:
// they get their offset when CatchUp reaches them, and the returned copies
// have Offset 0.
//
// Append returns copies of the transactions as stored.
func (p *Participant) Append(txs ...*ledger.Transaction) ([]*ledger.Transaction, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("ledgertest: Append on a closed participant")
	}
	times := map[string]time.Time{}
	ids := map[string]bool{}
	entries := make([]*entry, 0, len(txs))
	for i, in := range txs {
		if in == nil {
			return nil, fmt.Errorf("ledgertest: Append: transaction %d is nil", i)
		}
		for j, ev := range in.Events {
			if nilEvent(ev) {
				return nil, fmt.Errorf("ledgertest: Append: transaction %d: event %d is nil", i, j)
			}
		}
		tx := cloneTx(in, 0)
		if tx.SynchronizerID == "" {
			tx.SynchronizerID = p.cfg.synchronizer
		}
		if tx.UpdateID == "" {
			tx.UpdateID = p.nextUpdateIDLocked(ids)
		} else if p.known[tx.UpdateID] || ids[tx.UpdateID] {
			return nil, fmt.Errorf("ledgertest: Append: update id %q already exists", tx.UpdateID)
		}
		ids[tx.UpdateID] = true
		last, ok := times[tx.SynchronizerID]
		if !ok {
			last, ok = p.sequenced[tx.SynchronizerID]
		}
		switch {
		case tx.RecordTime.IsZero() && ok:
			tx.RecordTime = last.Add(time.Millisecond)
		case tx.RecordTime.IsZero():
			tx.RecordTime = p.cfg.startTime
		default:
			tx.RecordTime = normTime(tx.RecordTime)
			if ok && tx.RecordTime.Before(last) {
				return nil, fmt.Errorf("ledgertest: Append: record time %s of update %s is before %s, the latest record time of synchronizer %s",
					tx.RecordTime.Format(time.RFC3339Nano), tx.UpdateID, last.Format(time.RFC3339Nano), tx.SynchronizerID)
			}
		}
		times[tx.SynchronizerID] = tx.RecordTime
		if tx.EffectiveAt.IsZero() {
			tx.EffectiveAt = tx.RecordTime
		} else {
			tx.EffectiveAt = normTime(tx.EffectiveAt)
		}
		entries = append(entries, &entry{sync: tx.SynchronizerID, time: tx.RecordTime, tx: tx})
	}
	// Only now that every transaction is accepted may their package names
	// change what filters select: on an error nothing is appended.
	out := make([]*ledger.Transaction, len(entries))
	for i, e := range entries {
		p.pkgNames.register(e.tx)
		p.contracts.register(e.tx)
		stored := p.sequenceLocked(e)
		out[i] = cloneTx(stored.tx, stored.offset)
	}
	p.notifyLocked()
	return out, nil
}

// nilEvent reports whether e is nil, or a nil pointer to an event.
func nilEvent(e ledger.Event) bool {
	switch ev := e.(type) {
	case *ledger.CreatedEvent:
		return ev == nil
	case *ledger.ArchivedEvent:
		return ev == nil
	case *ledger.ExercisedEvent:
		return ev == nil
	}
	return e == nil
}

func (p *Participant) nextUpdateIDLocked(taken map[string]bool) string {
	for {
		p.autoID++
		id := fmt.Sprintf("upd-%d", p.autoID)
		if p.cfg.cantonIDs {
			id = CantonID("1220", id)
		}
		if !p.known[id] && !taken[id] {
			return id
		}
	}
}

// sequenceLocked records e in the synchronizers' history and, unless a
// recovery is pending, processes it. It returns the entry as stored (with
// offset 0 while it is pending).
func (p *Participant) sequenceLocked(e *entry) *entry {
	e.seq = uint64(len(p.history)) + 1
	p.history = append(p.history, e)
	if e.tx != nil {
		p.known[e.tx.UpdateID] = true
	}
	if e.time.After(p.sequenced[e.sync]) {
		p.sequenced[e.sync] = e.time
	}
	if len(p.pending) > 0 {
		p.pending = append(p.pending, e)
		return e
	}
	return p.processLocked(e)
}

// processLocked gives e the next offset and makes it visible.
func (p *Participant) processLocked(e *entry) *entry {
	off := max(p.end+1, p.end+p.cfg.step+p.jump)
	p.jump = 0
	stored := &entry{seq: e.seq, offset: off, sync: e.sync, time: e.time, gen: e.gen, genIdx: e.genIdx}
	if e.tx != nil {
		stored.tx = cloneTx(e.tx, off)
		p.byID[stored.tx.UpdateID] = stored
	}
	p.log = append(p.log, stored)
	p.end, p.endAt = off, time.Now()
	if last, ok := p.processed[e.sync]; !ok || e.time.After(last) {
		p.processed[e.sync] = e.time
	}
	return stored
}

// AdvanceTime moves the time of a synchronizer ("" for the default one) to t
// without a visible transaction, as the participant's non-visible updates
// (other parties' transactions, topology) do: the ledger end moves by one
// offset step and the next checkpoints carry t. Time never goes backwards: a t
// before the synchronizer's latest record time keeps that time (the ledger end
// still moves). The zero t keeps it too, or, on a synchronizer without a
// record time yet, is the start time, as for Append's first transaction.
// While a Restore's recovery is pending (manual catch-up), the advance
// queues behind the recovered updates, as Append's transactions do: the
// ledger end and ProcessedRecordTime move when CatchUp reaches it.
func (p *Participant) AdvanceTime(syncID string, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if syncID == "" {
		syncID = p.cfg.synchronizer
	}
	t = normTime(t)
	last, ok := p.sequenced[syncID]
	switch {
	case ok && t.Before(last):
		t = last
	case !ok && t.IsZero():
		t = p.cfg.startTime
	}
	p.sequenceLocked(&entry{sync: syncID, time: t})
	p.notifyLocked()
}

// LedgerEnd returns the offset of the last processed update (0 when empty).
func (p *Participant) LedgerEnd() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.end
}

// Transactions returns copies of all processed transactions in offset order,
// pruned ones included.
func (p *Participant) Transactions() []*ledger.Transaction {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*ledger.Transaction
	for _, e := range p.log {
		if e.tx != nil {
			out = append(out, cloneTx(e.transaction(), e.offset))
		}
	}
	return out
}

// Prune prunes the ledger up to and including offset upTo:
// GetLatestPrunedOffsets reports it, GetUpdates with a begin_exclusive below
// it fails with PARTICIPANT_PRUNED_DATA_ACCESSED, open streams positioned
// below it fail the same way, the other open streams are aborted (ABORTED,
// re-open from the last offset), and GetUpdateById no longer finds pruned
// transactions. upTo must lie in [0, LedgerEnd()]; pruning to an offset at or
// below the current pruning offset does nothing.
func (p *Participant) Prune(upTo int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if upTo < 0 || upTo > p.end {
		return fmt.Errorf("ledgertest: Prune(%d): offset outside [0, ledger end %d]", upTo, p.end)
	}
	if upTo > p.pruned {
		p.pruned = upTo
		p.pruneEpoch++
		p.notifyLocked()
	}
	return nil
}

// PrunedOffset returns the offset the ledger is pruned up to (inclusive).
func (p *Participant) PrunedOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pruned
}

// ---------------------------------------------------------------------------
// Backup and restore.

// Snapshot is a backup of the participant taken by Backup.
type Snapshot struct {
	owner     *Participant // nil in the zero Snapshot
	log       []*entry
	end       int64
	pruned    int64
	processed map[string]time.Time
}

// LedgerEnd returns the ledger end at the time of the backup.
func (s Snapshot) LedgerEnd() int64 { return s.end }

// Backup takes a backup of the participant's state: its processed ledger,
// ledger end, pruning offset and synchronizer times. Like a backup of a
// running node's database it disturbs nothing: open streams go on, and see
// only Restore (they end with UNAVAILABLE then, whatever they were sent).
func (p *Participant) Backup() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Snapshot{owner: p, log: slices.Clone(p.log), end: p.end, pruned: p.pruned, processed: maps.Clone(p.processed)}
}

// RestoreOption configures Restore.
type RestoreOption interface{ applyRestore(*restoreConfig) }

type restoreOptionFunc func(*restoreConfig)

func (f restoreOptionFunc) applyRestore(c *restoreConfig) { f(c) }

type restoreConfig struct {
	shift  int64
	manual bool
	first  []string
}

// WithOffsetShift sets how far the offsets of recovered updates move compared
// with the first time round: the first recovered update gets the snapshot's
// ledger end plus n plus the offset step. If the backup lacks no update,
// the first update after the Restore (appended, or a time advance) gets
// that offset instead. Default DefaultOffsetShift. Zero keeps the old
// offsets; a negative n gives smaller ones (with an offset step above 1),
// but an offset is always above the previous one.
func WithOffsetShift(n int64) RestoreOption {
	return restoreOptionFunc(func(c *restoreConfig) { c.shift = n })
}

// WithCatchUp(true) makes the restored participant recover the updates
// the backup does not hold only when the test calls CatchUp: until then its
// ledger end and processed record times lag behind. Default (false): all are
// recovered during Restore.
func WithCatchUp(manual bool) RestoreOption {
	return restoreOptionFunc(func(c *restoreConfig) { c.manual = manual })
}

// WithSynchronizersFirst makes the restored participant recover the updates
// the backup does not hold on the given synchronizers before those of the
// others, in the order given (each synchronizer's updates keep their own
// order). A participant recovers each synchronizer on its own, so it may
// interleave the synchronizers differently under the new offsets than the
// first time round. Default: the order they were first sequenced in.
func WithSynchronizersFirst(ids ...string) RestoreOption {
	return restoreOptionFunc(func(c *restoreConfig) { c.first = slices.Clone(ids) })
}

// Restore restores the participant from a backup, as in the validator node
// restore runbook. Open streams end with UNAVAILABLE (the node restarts). The
// ledger is truncated to the snapshot, with the snapshot's pruning offset and
// synchronizer times; then the participant recovers from the synchronizers
// every update the backup does not hold (sequenced after it, or not yet
// processed when it was taken), each once: same update ids, record times and
// events, but new offsets (see WithOffsetShift). Transactions appended later
// come after the recovered ones. Fault switches, recorded requests and call
// counts are kept. s must come from p's own Backup (another participant's
// panics); a snapshot can be restored any number of times. The zero
// Snapshot is a backup taken before anything happened.
func (p *Participant) Restore(s Snapshot, opts ...RestoreOption) {
	if s.owner != nil && s.owner != p {
		panic("ledgertest: Restore: the snapshot is another participant's backup")
	}
	rc := restoreConfig{shift: DefaultOffsetShift}
	for _, o := range opts {
		o.applyRestore(&rc)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = slices.Clone(s.log)
	p.end, p.endAt = s.end, time.Now()
	p.pruned = s.pruned
	p.processed = maps.Clone(s.processed)
	if p.processed == nil {
		p.processed = map[string]time.Time{}
	}
	p.byID = map[string]*entry{}
	for _, e := range p.log {
		if e.tx != nil {
			p.byID[e.tx.UpdateID] = e
		}
	}
	// The backup holds what the participant had processed, which is not a
	// prefix of the history after a recovery WithSynchronizersFirst: every
	// update it does not hold is recovered, once.
	held := make([]bool, len(p.history))
	for _, e := range s.log {
		held[e.seq-1] = true
	}
	p.pending = nil
	for i, e := range p.history {
		if !held[i] {
			p.pending = append(p.pending, e)
		}
	}
	if len(rc.first) > 0 {
		rank := func(e *entry) int {
			if i := slices.Index(rc.first, e.sync); i >= 0 {
				return i
			}
			return len(rc.first)
		}
		slices.SortStableFunc(p.pending, func(a, b *entry) int { return rank(a) - rank(b) })
	}
	p.jump = rc.shift
	p.gen++
	if !rc.manual {
		p.catchUpLocked(-1)
	}
	p.notifyLocked()
}

// CatchUp lets a participant restored WithCatchUp(true) recover the next n
// pending transactions (with the time advances sequenced before them), or all
// pending updates for n < 0. It wakes tailing streams and returns the number
// of transactions recovered.
func (p *Participant) CatchUp(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	count := p.catchUpLocked(n)
	p.notifyLocked()
	return count
}

func (p *Participant) catchUpLocked(n int) int {
	count := 0
	for len(p.pending) > 0 && (n < 0 || count < n) {
		e := p.pending[0]
		p.pending = p.pending[1:]
		p.processLocked(e)
		if e.tx != nil {
			count++
		}
	}
	if len(p.pending) == 0 {
		p.pending = nil
	}
	return count
}

// Pending returns how many sequenced transactions the participant has not
// processed yet (non-zero only after a Restore WithCatchUp(true)).
func (p *Participant) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.pending {
		if e.tx != nil {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// Fault switches and observation.

// Requests returns a copy of every GetUpdates request received, in order,
// including those that failed.
func (p *Participant) Requests() []*lapiv2.GetUpdatesRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*lapiv2.GetUpdatesRequest, len(p.requests))
	for i, r := range p.requests {
		out[i] = proto.CloneOf(r)
	}
	return out
}

// Calls returns how many calls of a method arrived (full name or last
// element, e.g. "GetUpdates"), including failed ones. A GetUpdates stream
// is open, for Prune, Restore and ExpireTokenOnStreams, from the moment
// Calls counts it (before its Intercept hook and authentication): a test
// can wait for the count before throwing one of them.
func (p *Participant) Calls(method string) int {
	m := fullMethod(method)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[m]
}

// DropStreamsAfter makes every GetUpdates stream, open or future, break with
// UNAVAILABLE once it has sent n items (transactions and checkpoints), like a
// broken connection: the status carries no ErrorInfo. n <= 0 disables it.
func (p *Participant) DropStreamsAfter(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropAfter = max(n, 0)
	p.notifyLocked()
}

// FailNext makes the next k calls of method (full name or last element) fail
// with code and error id TEST_INJECTED_FAULT (redacted, without an error id,
// for the codes Canton redacts: see StatusError), before any other
// processing except counting and recording. k <= 0 clears it. Faults run
// before Intercept hooks and authentication. codes.OK, which fails nothing,
// is a bug in the test and panics.
func (p *Participant) FailNext(method string, k int, code codes.Code) {
	m := fullMethod(method)
	if code == codes.OK && k > 0 {
		panic(fmt.Sprintf("ledgertest: FailNext(%q, %d, codes.OK) would fail no call", method, k))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if k <= 0 {
		delete(p.failNext, m)
		return
	}
	p.failNext[m] = injectedFault{n: k, code: code}
}

// Intercept runs fn before each call of method (full name or last element),
// with the call's context (incoming metadata included) and request. A non-nil
// error is returned to the client as is: build realistic ones with
// StatusError. fn may block (to delay a call) but should return when ctx
// ends, and may call the Participant's methods, Close included (see Close).
// A nil fn removes the hook.
func (p *Participant) Intercept(method string, fn func(ctx context.Context, req proto.Message) error) {
	m := fullMethod(method)
	p.mu.Lock()
	defer p.mu.Unlock()
	if fn == nil {
		delete(p.intercepts, m)
		return
	}
	p.intercepts[m] = fn
}

// StallStreams(true) makes every GetUpdates stream send nothing, neither
// transactions nor checkpoints, until StallStreams(false). The streams stay
// open and still end on errors, cancellation and Close.
func (p *Participant) StallStreams(stall bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = stall
	p.notifyLocked()
}

// SetDelay makes GetUpdates streams wait d before sending each item, like a
// slow network. 0 (the default) disables it.
func (p *Participant) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = max(d, 0)
}

// ExpireTokenOnStreams makes every open GetUpdates stream (one Calls has
// counted) fail with ABORTED ACCESS_TOKEN_EXPIRED, as when the token a
// stream was opened with expires. Streams opened later are not affected.
func (p *Participant) ExpireTokenOnStreams() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokenEpoch++
	p.notifyLocked()
}

// SetToken changes the token calls must present ("" turns authentication
// off). Open streams are not affected; combine with ExpireTokenOnStreams to
// force clients to refresh.
func (p *Participant) SetToken(tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.token = tok
}

// opening is the participant's state when it counted a call: a stream
// compares it with the current one to learn that Restore,
// ExpireTokenOnStreams or Prune ran since. A stream is thus open from the
// moment Calls counts it, the one sign a test can wait for.
type opening struct{ gen, tokenEpoch, pruneEpoch uint64 }

// enter is the common prologue of every call: count, record, injected
// faults, the Intercept hook, authentication.
func (p *Participant) enter(ctx context.Context, method string, req proto.Message) (opening, error) {
	p.mu.Lock()
	p.calls[method]++
	at := opening{gen: p.gen, tokenEpoch: p.tokenEpoch, pruneEpoch: p.pruneEpoch}
	if r, ok := req.(*lapiv2.GetUpdatesRequest); ok {
		p.requests = append(p.requests, proto.CloneOf(r))
	}
	var injected error
	if f := p.failNext[method]; f.n > 0 {
		f.n--
		if f.n == 0 {
			delete(p.failNext, method)
		} else {
			p.failNext[method] = f
		}
		injected = StatusError(f.code, ErrorIDInjectedFault, "fault injected into "+method+" by ledgertest FailNext", nil)
	}
	hook := p.intercepts[method]
	token := p.token
	p.mu.Unlock()
	if injected != nil {
		return at, injected
	}
	if hook != nil {
		if err := hook(ctx, req); err != nil {
			return at, err
		}
	}
	if token != "" && !hasBearer(ctx, token) {
		return at, unauthenticated()
	}
	return at, nil
}

func hasBearer(ctx context.Context, token string) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if v == "Bearer "+token {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// StateService.

type stateService struct {
	lapiv2.UnimplementedStateServiceServer
	p *Participant
}

func (s stateService) GetLedgerEnd(ctx context.Context, req *lapiv2.GetLedgerEndRequest) (*lapiv2.GetLedgerEndResponse, error) {
	if _, err := s.p.enter(ctx, MethodGetLedgerEnd, req); err != nil {
		return nil, err
	}
	return &lapiv2.GetLedgerEndResponse{Offset: s.p.LedgerEnd()}, nil
}

func (s stateService) GetLatestPrunedOffsets(ctx context.Context, req *lapiv2.GetLatestPrunedOffsetsRequest) (*lapiv2.GetLatestPrunedOffsetsResponse, error) {
	if _, err := s.p.enter(ctx, MethodGetLatestPrunedOffsets, req); err != nil {
		return nil, err
	}
	pruned := s.p.PrunedOffset()
	return &lapiv2.GetLatestPrunedOffsetsResponse{
		ParticipantPrunedUpToInclusive:          pruned,
		AllDivulgedContractsPrunedUpToInclusive: pruned,
	}, nil
}

// ---------------------------------------------------------------------------
// UpdateService.

type updateService struct {
	lapiv2.UnimplementedUpdateServiceServer
	p *Participant
}

func (s updateService) GetUpdateById(ctx context.Context, req *lapiv2.GetUpdateByIdRequest) (*lapiv2.GetUpdateResponse, error) {
	p := s.p
	if _, err := p.enter(ctx, MethodGetUpdateByID, req); err != nil {
		return nil, err
	}
	if req.GetUpdateId() == "" {
		return nil, StatusError(codes.InvalidArgument, ErrorIDMissingField, "The submitted command is missing a mandatory field: update_id", map[string]string{"field_name": "update_id"})
	}
	format, err := parseUpdateFormat(req.GetUpdateFormat(), &p.pkgNames, &p.contracts)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	e := p.byID[req.GetUpdateId()]
	if e != nil && e.offset <= p.pruned {
		e = nil
	}
	p.mu.Unlock()
	var tx *lapiv2.Transaction
	if e != nil && format != nil {
		tx = format.apply(e.transaction())
	}
	if tx == nil {
		return nil, StatusError(codes.NotFound, ErrorIDUpdateNotFound, "Update not found, or not visible.", map[string]string{"update_id": req.GetUpdateId()})
	}
	return &lapiv2.GetUpdateResponse{Update: &lapiv2.GetUpdateResponse_Transaction{Transaction: tx}}, nil
}

func (s updateService) GetUpdates(req *lapiv2.GetUpdatesRequest, stream grpc.ServerStreamingServer[lapiv2.GetUpdatesResponse]) error {
	p := s.p
	ctx := stream.Context()
	opened, err := p.enter(ctx, MethodGetUpdates, req)
	if err != nil {
		return err
	}
	begin := req.GetBeginExclusive()
	bounded := req.EndInclusive != nil
	endIncl := req.GetEndInclusive()
	// Checked in a participant's order: the offsets' signs, both offsets
	// against the ledger end, the update format, and only then begin
	// against end and the pruning offset.
	switch {
	case begin < 0:
		return StatusError(codes.InvalidArgument, ErrorIDNegativeOffset, fmt.Sprintf("Offset %d in begin_exclusive is a negative integer", begin), map[string]string{"field_name": "begin_exclusive"})
	case bounded && endIncl <= 0:
		return StatusError(codes.InvalidArgument, ErrorIDNonPositiveOffset, fmt.Sprintf("Offset %d in end_inclusive is not a positive integer", endIncl), map[string]string{"field_name": "end_inclusive"})
	case !bounded && req.GetDescendingOrder():
		return StatusError(codes.InvalidArgument, ErrorIDInvalidArgument, "The submitted request has invalid arguments: descending_order needs end_inclusive", nil)
	}
	p.mu.Lock()
	ledgerEnd, pruned := p.end, p.pruned
	p.mu.Unlock()
	switch {
	case begin > ledgerEnd:
		return StatusError(codes.OutOfRange, ErrorIDOffsetAfterLedgerEnd, fmt.Sprintf("Begin offset (%d) is after ledger end (%d)", begin, ledgerEnd), nil)
	case bounded && endIncl > ledgerEnd:
		return StatusError(codes.OutOfRange, ErrorIDOffsetAfterLedgerEnd, fmt.Sprintf("End offset (%d) is after ledger end (%d)", endIncl, ledgerEnd), nil)
	}
	format, err := parseUpdateFormat(req.GetUpdateFormat(), &p.pkgNames, &p.contracts)
	if err != nil {
		return err
	}
	if format != nil && p.cfg.wireCache {
		format.key = formatKey(req.GetUpdateFormat())
	}
	switch {
	case bounded && endIncl < begin:
		return StatusError(codes.FailedPrecondition, ErrorIDOffsetOutOfRange, fmt.Sprintf("Begin offset %d is after end offset %d", begin, endIncl), nil)
	case begin < pruned:
		return prunedError(begin, pruned)
	}

	st := &updateStream{p: p, ctx: ctx, send: stream.Send, gen: opened.gen, epoch: opened.tokenEpoch, pruneEpoch: opened.pruneEpoch, at: begin}
	if bounded {
		return st.runBounded(begin, endIncl, req.GetDescendingOrder(), format)
	}
	return st.runTailing(begin, format)
}

func prunedError(begin, pruned int64) error {
	return StatusError(codes.FailedPrecondition, ErrorIDPrunedDataAccessed,
		fmt.Sprintf("Updates request from %d precedes pruned offset %d", begin, pruned),
		map[string]string{MetadataEarliestOffset: fmt.Sprint(pruned)})
}

// updateStream is one GetUpdates call being served.
type updateStream struct {
	p     *Participant
	ctx   context.Context
	send  func(*lapiv2.GetUpdatesResponse) error
	gen   uint64
	epoch uint64
	// pruneEpoch counts the Prune calls that moved the pruning offset: one
	// while the stream is open aborts it.
	pruneEpoch uint64
	sent       int
	// at is the offset of the last item sent, or begin_exclusive.
	at int64
	// inflate decompresses responses from a compressed wire cache.
	inflate inflater
}

// view is what a stream sees of the ledger at one moment.
type view struct {
	entries []*entry // in (pos, limit], offset order
	end     int64
	endAt   time.Time // when the ledger end reached end
	times   []ledger.SynchronizerTime
	changed <-chan struct{}
}

// checkLocked reports why the stream must end, if it must.
func (st *updateStream) checkLocked() error {
	p := st.p
	switch {
	case p.closed:
		return status.Error(codes.Unavailable, "ledgertest: participant closed")
	case st.ctx.Err() != nil:
		return status.FromContextError(st.ctx.Err()).Err()
	case p.gen != st.gen:
		return StatusError(codes.Unavailable, "SERVER_IS_SHUTTING_DOWN", "The participant is restarting (restored from a backup)", nil)
	case p.tokenEpoch != st.epoch:
		return StatusError(codes.Aborted, ErrorIDAccessTokenExpired, "Claims were valid until the stream's token expired", nil)
	case p.dropAfter > 0 && st.sent >= p.dropAfter:
		return status.Errorf(codes.Unavailable, "ledgertest: connection dropped after %d items (DropStreamsAfter)", st.sent)
	}
	return nil
}

// prunedLocked reports a Prune that ran since the stream opened: the pruned
// error if pos is now below the pruning offset, ABORTED otherwise.
func (st *updateStream) prunedLocked(pos int64) error {
	p := st.p
	switch {
	case pos < p.pruned:
		return prunedError(pos, p.pruned)
	case p.pruneEpoch != st.pruneEpoch:
		return status.Error(codes.Aborted, "ledgertest: the participant pruned its ledger while the stream was open; re-open it from the last offset")
	}
	return nil
}

// wait blocks until ch is closed, the timer fires, the client goes away or
// the participant closes.
func (st *updateStream) wait(ch <-chan struct{}, timer <-chan time.Time) {
	select {
	case <-ch:
	case <-timer:
	case <-st.ctx.Done():
	case <-st.p.done:
	}
}

// look returns the entries in (pos, limit] (limit < 0: up to the ledger
// end), waiting while streams are stalled.
func (st *updateStream) look(pos, limit int64) (view, error) {
	p := st.p
	for {
		p.mu.Lock()
		if err := st.checkLocked(); err != nil {
			p.mu.Unlock()
			return view{}, err
		}
		if err := st.prunedLocked(pos); err != nil {
			p.mu.Unlock()
			return view{}, err
		}
		if p.stalled {
			ch := p.changed
			p.mu.Unlock()
			st.wait(ch, nil)
			continue
		}
		if limit < 0 || limit > p.end {
			limit = p.end
		}
		i := sort.Search(len(p.log), func(i int) bool { return p.log[i].offset > pos })
		j := sort.Search(len(p.log), func(i int) bool { return p.log[i].offset > limit })
		v := view{entries: p.log[i:j:j], end: p.end, endAt: p.endAt, times: p.timesLocked(), changed: p.changed}
		p.mu.Unlock()
		return v, nil
	}
}

func (p *Participant) timesLocked() []ledger.SynchronizerTime {
	out := make([]ledger.SynchronizerTime, 0, len(p.processed))
	for _, id := range slices.Sorted(maps.Keys(p.processed)) {
		out = append(out, ledger.SynchronizerTime{SynchronizerID: id, RecordTime: p.processed[id]})
	}
	return out
}

// emit sends one item, honouring stalls, delays and dropped connections.
func (st *updateStream) emit(resp *lapiv2.GetUpdatesResponse, offset int64) error {
	p := st.p
	for {
		p.mu.Lock()
		if err := st.checkLocked(); err != nil {
			p.mu.Unlock()
			return err
		}
		if err := st.prunedLocked(st.at); err != nil {
			p.mu.Unlock()
			return err
		}
		if p.stalled {
			ch := p.changed
			p.mu.Unlock()
			st.wait(ch, nil)
			continue
		}
		delay := p.delay
		p.mu.Unlock()
		if delay > 0 {
			t := time.NewTimer(delay)
			st.wait(nil, t.C)
			t.Stop()
			p.mu.Lock()
			err := st.checkLocked()
			if err == nil {
				err = st.prunedLocked(st.at)
			}
			p.mu.Unlock()
			if err != nil {
				return err
			}
		}
		break
	}
	if err := st.send(resp); err != nil {
		return err
	}
	st.sent++
	st.at = offset
	p.mu.Lock()
	err := st.checkLocked()
	p.mu.Unlock()
	return err
}

// response returns what the stream sends for e, or nil when the format
// leaves nothing of it.
func (st *updateStream) response(e *entry, format *txFormat) *lapiv2.GetUpdatesResponse {
	if st.p.cfg.wireCache {
		return e.cachedResponse(st.p, format, &st.inflate)
	}
	tx := format.apply(e.transaction())
	if tx == nil {
		return nil
	}
	return &lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_Transaction{Transaction: tx}}
}

func (st *updateStream) runBounded(begin, endIncl int64, descending bool, format *txFormat) error {
	v, err := st.look(begin, endIncl)
	if err != nil {
		return err
	}
	entries := v.entries
	if descending {
		entries = slices.Clone(entries)
		slices.Reverse(entries)
	}
	for _, e := range entries {
		if e.tx == nil || format == nil {
			continue
		}
		if resp := st.response(e, format); resp != nil {
			if err := st.emit(resp, e.offset); err != nil {
				return err
			}
		}
	}
	return nil
}

func (st *updateStream) runTailing(begin int64, format *txFormat) error {
	interval := st.p.cfg.interval
	pos := begin      // everything up to pos has been looked at
	lastSent := begin // offset of the last item sent (or the start)
	cpAt := int64(-1) // offset of the last checkpoint sent (-1: none yet)
	var lastItemAt time.Time
	for {
		v, err := st.look(pos, -1)
		if err != nil {
			return err
		}
		sentTx := false
		for _, e := range v.entries {
			if e.tx != nil && format != nil {
				if resp := st.response(e, format); resp != nil {
					if err := st.emit(resp, e.offset); err != nil {
						return err
					}
					lastSent, sentTx = e.offset, true
				}
			}
			pos = e.offset
		}
		if sentTx {
			lastItemAt = time.Now()
		}
		if v.end == 0 || v.end < lastSent || cpAt == v.end { // nothing to report: wait for a change
			st.wait(v.changed, nil)
			continue
		}
		// The ledger end moved past the last item sent: report it at once
		// after a batch, otherwise once the stream has idled long enough.
		// At the ledger end (begin_exclusive, or a transaction just sent)
		// Canton streams the checkpoint it caches for that offset too,
		// repeating the offset: once the ledger end has stayed there, and
		// the stream idled, for the interval.
		due, repeat := lastItemAt, v.end == lastSent
		if repeat && v.endAt.After(due) {
			due = v.endAt
		}
		if idle := time.Since(due); (repeat || !sentTx) && idle < interval {
			timer := time.NewTimer(interval - idle)
			st.wait(v.changed, timer.C)
			timer.Stop()
			continue
		}
		cp := &ledger.OffsetCheckpoint{Offset: v.end, SynchronizerTimes: v.times}
		if err := st.emit(&lapiv2.GetUpdatesResponse{Update: &lapiv2.GetUpdatesResponse_OffsetCheckpoint{OffsetCheckpoint: cp.Proto()}}, v.end); err != nil {
			return err
		}
		lastSent, cpAt, lastItemAt = v.end, v.end, time.Now()
	}
}

// ---------------------------------------------------------------------------
// Filtering: the request's UpdateFormat applied to a stored transaction.

// txFormat is a parsed TransactionFormat.
type txFormat struct {
	key      string // identifies the format in the wire cache
	acsDelta bool
	verbose  bool
	anyParty *partyFilter
	byParty  map[string]*partyFilter
	names    *packageNames // tells packages apart (packages.go)
	// contracts knows the stakeholders of the contracts created on the
	// ledger (packages.go): whose ACS an archive changes.
	contracts *contractParties
}

type partyFilter struct {
	selectors []selector
}

// selector is one CumulativeFilter.
type selector struct {
	names    *packageNames
	wildcard bool
	template *lapiv2.Identifier
	iface    *lapiv2.Identifier
	view     bool // include_interface_view
	blob     bool // include_created_event_blob
}

func invalidArgument(format string, args ...any) error {
	return StatusError(codes.InvalidArgument, ErrorIDInvalidArgument, "The submitted request has invalid arguments: "+fmt.Sprintf(format, args...), nil)
}

func missingField(name string) error {
	return StatusError(codes.InvalidArgument, ErrorIDMissingField, "The submitted command is missing a mandatory field: "+name, map[string]string{"field_name": name})
}

// checkIdentifier refuses a filter's template or interface id without its
// package (an id or a "#name" reference), module or entity name, as Canton
// does when it parses them.
func checkIdentifier(id *lapiv2.Identifier) error {
	for _, f := range []struct{ name, value string }{
		{"module_name", id.GetModuleName()}, {"entity_name", id.GetEntityName()},
		{"package reference", strings.TrimPrefix(id.GetPackageId(), "#")},
	} {
		if f.value == "" {
			return StatusError(codes.InvalidArgument, ErrorIDInvalidField,
				"The submitted command has a field with invalid value: Invalid field "+f.name+": Expected a non-empty string", nil)
		}
	}
	return nil
}

// parseUpdateFormat validates the request's update format. It returns nil
// (and no error) when the format asks for no transactions.
func parseUpdateFormat(uf *lapiv2.UpdateFormat, names *packageNames, contracts *contractParties) (*txFormat, error) {
	if uf == nil {
		return nil, missingField("update_format")
	}
	tf := uf.GetIncludeTransactions()
	if tf == nil {
		if uf.GetIncludeReassignments() == nil && uf.GetIncludeTopologyEvents() == nil {
			return nil, invalidArgument("update_format asks for no updates")
		}
		return nil, nil
	}
	ef := tf.GetEventFormat()
	if ef == nil {
		return nil, missingField("event_format")
	}
	f := &txFormat{verbose: ef.GetVerbose(), byParty: map[string]*partyFilter{}, names: names, contracts: contracts}
	switch tf.GetTransactionShape() {
	case lapiv2.TransactionShape_TRANSACTION_SHAPE_ACS_DELTA:
		f.acsDelta = true
	case lapiv2.TransactionShape_TRANSACTION_SHAPE_LEDGER_EFFECTS:
	default:
		return nil, invalidArgument("transaction_shape %v is not supported", tf.GetTransactionShape())
	}
	if len(ef.GetFiltersByParty()) == 0 && ef.GetFiltersForAnyParty() == nil {
		return nil, invalidArgument("filters_by_party and filters_for_any_party are both empty")
	}
	for party, fs := range ef.GetFiltersByParty() {
		if party == "" {
			return nil, invalidArgument("filters_by_party has an empty party")
		}
		pf, err := parseFilters(fs, names)
		if err != nil {
			return nil, err
		}
		f.byParty[party] = pf
	}
	if fs := ef.GetFiltersForAnyParty(); fs != nil {
		pf, err := parseFilters(fs, names)
		if err != nil {
			return nil, err
		}
		f.anyParty = pf
	}
	return f, nil
}

func parseFilters(fs *lapiv2.Filters, names *packageNames) (*partyFilter, error) {
	pf := &partyFilter{}
	for _, c := range fs.GetCumulative() {
		switch x := c.GetIdentifierFilter().(type) {
		case *lapiv2.CumulativeFilter_TemplateFilter:
			if x.TemplateFilter.GetTemplateId() == nil {
				return nil, missingField("template_id")
			}
			if err := checkIdentifier(x.TemplateFilter.GetTemplateId()); err != nil {
				return nil, err
			}
			pf.selectors = append(pf.selectors, selector{template: x.TemplateFilter.GetTemplateId(), blob: x.TemplateFilter.GetIncludeCreatedEventBlob()})
		case *lapiv2.CumulativeFilter_InterfaceFilter:
			if x.InterfaceFilter.GetInterfaceId() == nil {
				return nil, missingField("interface_id")
			}
			if err := checkIdentifier(x.InterfaceFilter.GetInterfaceId()); err != nil {
				return nil, err
			}
			pf.selectors = append(pf.selectors, selector{iface: x.InterfaceFilter.GetInterfaceId(),
				view: x.InterfaceFilter.GetIncludeInterfaceView(), blob: x.InterfaceFilter.GetIncludeCreatedEventBlob()})
		case *lapiv2.CumulativeFilter_WildcardFilter:
			pf.selectors = append(pf.selectors, selector{wildcard: true, blob: x.WildcardFilter.GetIncludeCreatedEventBlob()})
		default: // an empty CumulativeFilter: ignored beside others
		}
	}
	if len(pf.selectors) == 0 { // empty Filters, or only empty CumulativeFilters: all templates
		pf.selectors = append(pf.selectors, selector{wildcard: true})
	}
	for i := range pf.selectors {
		pf.selectors[i].names = names
	}
	return pf, nil
}

// eventInfo is what filters look at in an event.
type eventInfo struct {
	template  *lapiv2.Identifier
	ifaces    []*lapiv2.Identifier // views of a created event, implemented interfaces otherwise
	witnesses []string
}

func infoOf(ev *lapiv2.Event) eventInfo {
	switch x := ev.GetEvent().(type) {
	case *lapiv2.Event_Created:
		info := eventInfo{template: x.Created.GetTemplateId(), witnesses: x.Created.GetWitnessParties()}
		for _, v := range x.Created.GetInterfaceViews() {
			info.ifaces = append(info.ifaces, v.GetInterfaceId())
		}
		return info
	case *lapiv2.Event_Archived:
		return eventInfo{template: x.Archived.GetTemplateId(), ifaces: x.Archived.GetImplementedInterfaces(), witnesses: x.Archived.GetWitnessParties()}
	case *lapiv2.Event_Exercised:
		info := eventInfo{template: x.Exercised.GetTemplateId(), witnesses: x.Exercised.GetWitnessParties()}
		info.ifaces = append(info.ifaces, x.Exercised.GetImplementedInterfaces()...)
		if x.Exercised.GetInterfaceId() != nil {
			info.ifaces = append(info.ifaces, x.Exercised.GetInterfaceId())
		}
		return info
	}
	return eventInfo{}
}

func (s selector) matches(info eventInfo) bool {
	switch {
	case s.wildcard:
		return true
	case s.template != nil:
		return s.names.sameID(s.template, info.template)
	default:
		return slices.ContainsFunc(info.ifaces, func(id *lapiv2.Identifier) bool { return s.names.sameID(s.iface, id) })
	}
}

func (pf *partyFilter) matches(info eventInfo) bool {
	return slices.ContainsFunc(pf.selectors, func(s selector) bool { return s.matches(info) })
}

// apply returns the wire form of tx as the request's format shows it, or nil
// when no event of it is left.
func (f *txFormat) apply(tx *ledger.Transaction) *lapiv2.Transaction {
	out := tx.Proto()
	events := out.Events
	if f.acsDelta {
		events = acsDelta(events)
	}
	kept := make([]*lapiv2.Event, 0, len(events))
	for _, ev := range events {
		if ev = f.filterEvent(ev); ev != nil {
			kept = append(kept, ev)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	out.Events = kept
	return out
}

// filterEvent returns ev as the format shows it, or nil if no filter selects
// it. ev is a fresh wire event, but its slices may share storage with the
// stored transaction: they are replaced, never modified.
func (f *txFormat) filterEvent(ev *lapiv2.Event) *lapiv2.Event {
	if f.acsDelta && !f.stakeholderWitnesses(ev) {
		return nil
	}
	info := infoOf(ev)
	var matched []*partyFilter
	allWitnesses := false
	var witnesses []string
	if f.anyParty != nil && f.anyParty.matches(info) {
		matched, allWitnesses = append(matched, f.anyParty), true
	}
	for _, w := range info.witnesses {
		if pf := f.byParty[w]; pf != nil && pf.matches(info) && !slices.Contains(witnesses, w) {
			matched, witnesses = append(matched, pf), append(witnesses, w)
		}
	}
	if len(matched) == 0 {
		return nil
	}
	if !allWitnesses {
		switch x := ev.GetEvent().(type) {
		case *lapiv2.Event_Created:
			x.Created.WitnessParties = witnesses
		case *lapiv2.Event_Archived:
			x.Archived.WitnessParties = witnesses
		case *lapiv2.Event_Exercised:
			x.Exercised.WitnessParties = witnesses
		}
	}
	// viewed reports whether a matched filter asks for the views of
	// interface id: only those interfaces' views (of a created event) and
	// ids (implemented by the template of an archive or consuming exercise)
	// are sent.
	viewed := func(id *lapiv2.Identifier) bool {
		return slices.ContainsFunc(matched, func(pf *partyFilter) bool {
			return slices.ContainsFunc(pf.selectors, func(s selector) bool {
				return s.iface != nil && s.view && f.names.sameID(s.iface, id)
			})
		})
	}
	viewedOnly := func(ids []*lapiv2.Identifier) []*lapiv2.Identifier {
		var out []*lapiv2.Identifier
		for _, id := range ids {
			if viewed(id) {
				out = append(out, id)
			}
		}
		return out
	}
	switch x := ev.GetEvent().(type) {
	case *lapiv2.Event_Created:
		c := x.Created
		wantsBlob := false
		var views []*lapiv2.InterfaceView
		for _, pf := range matched {
			for _, s := range pf.selectors {
				if !s.matches(info) {
					continue
				}
				wantsBlob = wantsBlob || s.blob
			}
		}
		for _, v := range c.GetInterfaceViews() {
			if viewed(v.GetInterfaceId()) {
				views = append(views, v)
			}
		}
		c.InterfaceViews = views
		if !wantsBlob {
			c.CreatedEventBlob = nil
		}
	case *lapiv2.Event_Archived:
		x.Archived.ImplementedInterfaces = viewedOnly(x.Archived.GetImplementedInterfaces())
	case *lapiv2.Event_Exercised:
		if x.Exercised.GetConsuming() {
			x.Exercised.ImplementedInterfaces = viewedOnly(x.Exercised.GetImplementedInterfaces())
		} else {
			x.Exercised.ImplementedInterfaces = nil
		}
	}
	if !f.acsDelta {
		f.acsDeltaFlag(ev)
	}
	if !f.verbose {
		stripEvent(ev)
	}
	return ev
}

// stakeholderWitnesses narrows the witnesses of a created event to its
// stakeholders (signatories and observers), when it names them, and those
// of an archived event to the stakeholders of its contract, when the
// participant was given its create: in the ACS_DELTA shape a party sees a
// contract's create and archive only as a stakeholder, not as a mere
// witness of the transaction that created or consumed it. It reports false
// when no witness is left.
func (f *txFormat) stakeholderWitnesses(ev *lapiv2.Event) bool {
	switch x := ev.GetEvent().(type) {
	case *lapiv2.Event_Created:
		c := x.Created
		if len(c.GetSignatories()) == 0 {
			return true
		}
		c.WitnessParties = onlyStakeholders(c.GetWitnessParties(), slices.Concat(c.GetSignatories(), c.GetObservers()))
		return len(c.WitnessParties) > 0
	case *lapiv2.Event_Archived:
		a := x.Archived
		sh, ok := f.contracts.stakeholders(a.GetContractId())
		if !ok {
			return true
		}
		a.WitnessParties = onlyStakeholders(a.GetWitnessParties(), sh)
		return len(a.WitnessParties) > 0
	}
	return true
}

// onlyStakeholders returns the witnesses that are stakeholders, in a new
// slice (witnesses may share storage with a stored transaction).
func onlyStakeholders(witnesses, stakeholders []string) []string {
	var ws []string
	for _, w := range witnesses {
		if slices.Contains(stakeholders, w) {
			ws = append(ws, w)
		}
	}
	return ws
}

// acsDeltaFlag narrows the acs_delta flag of a created event or consuming
// exercise on the LEDGER_EFFECTS shape to the requesting parties: true only
// if the stored event changes the active contract set and one of its
// witnesses left (the requesting parties') is a stakeholder of the
// contract, as then the event is in their ACS_DELTA stream. An event whose
// contract's stakeholders are unknown (a created event without
// signatories, an exercise of a contract created by no Append) keeps the
// stored flag.
func (f *txFormat) acsDeltaFlag(ev *lapiv2.Event) {
	switch x := ev.GetEvent().(type) {
	case *lapiv2.Event_Created:
		c := x.Created
		if c.GetAcsDelta() && len(c.GetSignatories()) > 0 {
			c.AcsDelta = len(onlyStakeholders(c.GetWitnessParties(), slices.Concat(c.GetSignatories(), c.GetObservers()))) > 0
		}
	case *lapiv2.Event_Exercised:
		e := x.Exercised
		if sh, ok := f.contracts.stakeholders(e.GetContractId()); ok && e.GetAcsDelta() {
			e.AcsDelta = len(onlyStakeholders(e.GetWitnessParties(), sh)) > 0
		}
	}
}

// acsDelta approximates the ACS_DELTA shape from a ledger-effects event
// list: creates and archives of contracts that outlive the transaction stay,
// consuming exercises become archives, non-consuming exercises and contracts
// created and archived within the transaction disappear.
func acsDelta(events []*lapiv2.Event) []*lapiv2.Event {
	created := map[string]bool{}
	consumed := map[string]bool{}
	for _, ev := range events {
		switch x := ev.GetEvent().(type) {
		case *lapiv2.Event_Created:
			created[x.Created.GetContractId()] = true
		case *lapiv2.Event_Archived:
			consumed[x.Archived.GetContractId()] = true
		case *lapiv2.Event_Exercised:
			if x.Exercised.GetConsuming() {
				consumed[x.Exercised.GetContractId()] = true
			}
		}
	}
	var out []*lapiv2.Event
	for _, ev := range events {
		switch x := ev.GetEvent().(type) {
		case *lapiv2.Event_Created:
			if !consumed[x.Created.GetContractId()] {
				x.Created.AcsDelta = true
				out = append(out, ev)
			}
		case *lapiv2.Event_Archived:
			if !created[x.Archived.GetContractId()] {
				out = append(out, ev)
			}
		case *lapiv2.Event_Exercised:
			x2 := x.Exercised
			if x2.GetConsuming() && !created[x2.GetContractId()] {
				out = append(out, &lapiv2.Event{Event: &lapiv2.Event_Archived{Archived: &lapiv2.ArchivedEvent{
					Offset: x2.GetOffset(), NodeId: x2.GetNodeId(), ContractId: x2.GetContractId(),
					TemplateId: x2.GetTemplateId(), WitnessParties: x2.GetWitnessParties(),
					PackageName: x2.GetPackageName(), ImplementedInterfaces: x2.GetImplementedInterfaces(),
				}}})
			}
		}
	}
	return out
}

// stripEvent makes the values of ev non-verbose: no record labels, no type
// identifiers in records, variants and enums, and no trailing None fields.
func stripEvent(ev *lapiv2.Event) {
	switch x := ev.GetEvent().(type) {
	case *lapiv2.Event_Created:
		stripRecord(x.Created.GetCreateArguments())
		stripValue(x.Created.GetContractKey())
		for _, v := range x.Created.GetInterfaceViews() {
			stripRecord(v.GetViewValue())
		}
	case *lapiv2.Event_Exercised:
		stripValue(x.Exercised.GetChoiceArgument())
		stripValue(x.Exercised.GetExerciseResult())
	}
}

func stripRecord(r *lapiv2.Record) {
	if r == nil {
		return
	}
	r.RecordId = nil
	for _, f := range r.GetFields() {
		f.Label = ""
		stripValue(f.GetValue())
	}
	n := len(r.Fields)
	for n > 0 && isNone(r.Fields[n-1].GetValue()) {
		n--
	}
	r.Fields = r.Fields[:n]
}

func isNone(v *lapiv2.Value) bool {
	o, ok := v.GetSum().(*lapiv2.Value_Optional)
	return ok && o.Optional.GetValue() == nil
}

func stripValue(v *lapiv2.Value) {
	switch x := v.GetSum().(type) {
	case *lapiv2.Value_Record:
		stripRecord(x.Record)
	case *lapiv2.Value_Optional:
		stripValue(x.Optional.GetValue())
	case *lapiv2.Value_List:
		for _, e := range x.List.GetElements() {
			stripValue(e)
		}
	case *lapiv2.Value_TextMap:
		for _, e := range x.TextMap.GetEntries() {
			stripValue(e.GetValue())
		}
	case *lapiv2.Value_GenMap:
		for _, e := range x.GenMap.GetEntries() {
			stripValue(e.GetKey())
			stripValue(e.GetValue())
		}
	case *lapiv2.Value_Variant:
		if x.Variant != nil {
			x.Variant.VariantId = nil
			stripValue(x.Variant.GetValue())
		}
	case *lapiv2.Value_Enum:
		if x.Enum != nil {
			x.Enum.EnumId = nil
		}
	}
}

// ---------------------------------------------------------------------------
// Copies.

// normTime keeps microsecond precision in UTC, as Canton's timestamps do.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// cloneTx deep-copies tx so that neither the caller nor the fake can change
// the other's copy, and sets offset on the transaction and its events.
func cloneTx(tx *ledger.Transaction, offset int64) *ledger.Transaction {
	out := *tx
	out.Offset = offset
	out.Events = make([]ledger.Event, 0, len(tx.Events))
	for _, e := range tx.Events {
		if c := cloneEvent(e, offset); c != nil {
			out.Events = append(out.Events, c)
		}
	}
	return &out
}

func cloneEvent(e ledger.Event, offset int64) ledger.Event {
	switch ev := e.(type) {
	case *ledger.CreatedEvent:
		c := *ev
		c.Offset = offset
		c.CreatedEventBlob = slices.Clone(ev.CreatedEventBlob)
		c.InterfaceViews = slices.Clone(ev.InterfaceViews)
		c.WitnessParties = slices.Clone(ev.WitnessParties)
		c.Signatories = slices.Clone(ev.Signatories)
		c.Observers = slices.Clone(ev.Observers)
		return &c
	case *ledger.ArchivedEvent:
		c := *ev
		c.Offset = offset
		c.WitnessParties = slices.Clone(ev.WitnessParties)
		c.ImplementedInterfaces = slices.Clone(ev.ImplementedInterfaces)
		return &c
	case *ledger.ExercisedEvent:
		c := *ev
		c.Offset = offset
		if ev.InterfaceID != nil {
			id := *ev.InterfaceID
			c.InterfaceID = &id
		}
		c.ActingParties = slices.Clone(ev.ActingParties)
		c.WitnessParties = slices.Clone(ev.WitnessParties)
		c.ImplementedInterfaces = slices.Clone(ev.ImplementedInterfaces)
		return &c
	}
	return nil
}
