// Package metrics exposes an Ingester's statistics to Prometheus and to
// health checkers: /metrics in the Prometheus text exposition format
// (version 0.0.4) and /healthz answering 200 or 503 with the reason.
//
//	hist := metrics.NewLatencyHistogram()
//	cfg.OnCommit = hist.Observe
//	ing, _ := ingest.New(db, client, cfg)
//	http.Handle("/", metrics.Handler(ing.Stats, metrics.Options{
//		LedgerEndLag: ing.LedgerEndLag,
//		Latency:      hist,
//	}))
//
// The format is written by hand: it is a few lines of text, and this keeps
// txhistory free of the Prometheus client library and its dependencies.
// Scrapers, the Prometheus server and its text parser, read it as usual.
//
// # Metrics
//
// With the default namespace "txhistory":
//
//	txhistory_checkpoint_offset                 gauge    committed checkpoint offset
//	txhistory_ledger_end_lag                    gauge    offsets between the checkpoint and the participant's ledger end
//	txhistory_record_time_lag_seconds           gauge    now minus the latest ingested record time (any synchronizer)
//	txhistory_record_time_seconds{synchronizer} gauge    ingested record time per synchronizer (Unix seconds)
//	txhistory_transactions_per_second           gauge    moving average over about ten seconds
//	txhistory_last_batch_latency_seconds        gauge    duration of the last commit, retries included
//	txhistory_batch_latency_seconds             histogram  commit durations (with Options.Latency)
//	txhistory_last_commit_timestamp_seconds     gauge    when the last batch committed (Unix seconds)
//	txhistory_transactions_total                counter  new transactions committed
//	txhistory_skipped_transactions_total        counter  transactions dropped by update-id dedup
//	txhistory_set_aside_transactions_total      counter  transactions set aside for review
//	txhistory_batches_total                     counter  SQL transactions committed
//	txhistory_offset_checkpoints_total          counter  OffsetCheckpoints received
//	txhistory_errors_total{kind}                counter  faults by kind: stream, auth, database, handler, decode, other
//	txhistory_ledger_reachable                  gauge    1 if the last ledger-end query succeeded (with Options.LedgerEndLag; a standby's also reads the stored checkpoint)
//	txhistory_healthy                           gauge    1 if /healthz would answer 200
//
// Counters count from the start of the Ingester, as Prometheus expects of a
// process's counters: a restart resets them.
//
// # Health
//
// /healthz is healthy (200) when the last commit, of transactions or of an
// OffsetCheckpoint, is at most MaxSilence old; or when the checkpoint is at
// the participant's ledger end as Options.LedgerEndLag, which it needs for
// this, finds (the ingester is waiting for new updates)
// and no database error was counted since the last commit (or since the
// Ingester last read the checkpoint, which it does after taking the lock
// again once the database is back);
// or, before the first commit, for StartupGrace; or while the Ingester is a
// standby waiting for another's lock. Otherwise, when the Ingester is
// stopped (Run has returned) or when Options.Check fails, it answers 503. The JSON body gives the status, the
// reason, the offset, the lag and the time of the last commit.
package metrics

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cantonx/txhistory/ingest"
)

// Defaults of Options.
const (
	NamespaceDefault  = "txhistory"
	MaxSilenceDefault = 5 * time.Minute
	LagTimeoutDefault = 5 * time.Second
)

// ErrorKinds are the kinds of ingest.Stats.Errors; each is exposed, at 0 if
// it never happened, so that rates and alerts work from the start.
var ErrorKinds = []string{"stream", "auth", "database", "handler", "decode", "other"}

// Options configures Handler. Zero fields take the documented defaults.
type Options struct {
	// Namespace prefixes every metric name. Default "txhistory". It must
	// be a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*):
	// Handler panics on any other, which Prometheus could not parse.
	Namespace string
	// MaxSilence is how old the last commit may be for /healthz to stay
	// healthy while the checkpoint is behind the ledger end. Default 5m.
	MaxSilence time.Duration
	// StartupGrace is how long after Started /healthz stays healthy
	// without any commit (taking the lock, connecting, the first batch).
	// Default MaxSilence.
	StartupGrace time.Duration
	// Started is when the service started, from which StartupGrace and
	// the "since start" of /healthz's reasons count. Default when Handler
	// is created.
	Started time.Time
	// LedgerEndLag, if set, is called at every scrape and health check to
	// refresh the ledger-end lag, usually Ingester.LedgerEndLag. Without it
	// the lag is whatever the last call of Ingester.LedgerEndLag found, and
	// is left out (unknown) before one succeeded; and /healthz, which
	// cannot trust a lag of 0 measured who knows when, never counts the
	// ingester caught up: on a ledger with nothing new for it, it answers
	// 503 once MaxSilence passes without a commit.
	LedgerEndLag func(ctx context.Context) (int64, error)
	// LagTimeout bounds a LedgerEndLag call. Default 5s.
	LagTimeout time.Duration
	// Check, if set, is an extra health check: an error makes /healthz
	// answer 503 with its message. A daemon reports there that Run
	// returned, for instance.
	Check func() error
	// Latency, if set, is exposed as the batch latency histogram. Feed it
	// with ingest.Config.OnCommit.
	Latency *LatencyHistogram
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = NamespaceDefault
	}
	if o.MaxSilence <= 0 {
		o.MaxSilence = MaxSilenceDefault
	}
	if o.StartupGrace <= 0 {
		o.StartupGrace = o.MaxSilence
	}
	if o.LagTimeout <= 0 {
		o.LagTimeout = LagTimeoutDefault
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Started.IsZero() {
		o.Started = o.Now()
	}
	return o
}

// Handler serves GET /metrics (Prometheus text format) and GET /healthz
// (JSON, 200 or 503) for the statistics src returns, usually
// Ingester.Stats. Other paths are 404. It is safe for concurrent use. It
// panics, when built, for a nil src, an invalid Options.Namespace or a
// negative MaxSilence, StartupGrace or LagTimeout (zero gives the default).
func Handler(src func() ingest.Stats, opts Options) http.Handler {
	if src == nil {
		panic("metrics: Handler: nil statistics source (src)")
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"MaxSilence", opts.MaxSilence}, {"StartupGrace", opts.StartupGrace}, {"LagTimeout", opts.LagTimeout}} {
		if f.v < 0 {
			panic(fmt.Sprintf("metrics: Options.%s is negative (%v): zero gives the default", f.name, f.v))
		}
	}
	opts = opts.withDefaults()
	if !validNamespace(opts.Namespace) {
		panic(fmt.Sprintf("metrics: Options.Namespace %q is not a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)", opts.Namespace))
	}
	e := &exporter{src: src, opts: opts, started: opts.Started}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", e.serveMetrics)
	mux.HandleFunc("GET /healthz", e.serveHealth)
	return mux
}

type exporter struct {
	src     func() ingest.Stats
	opts    Options
	started time.Time

	// The database errors counted when the exporter first saw the current
	// last commit (or checkpoint read): those counted since are faults
	// after it.
	mu           sync.Mutex
	commitSeen   time.Time
	dbErrsAtSeen int64
}

// dbErrorsSinceCommit returns the database errors s counts that happened
// since its last commit, or since it last read the checkpoint (the
// database answered: after taking the lock again, for one), as far as the
// exporter's observations tell, and whether there was one at all (s's
// DatabaseErrorAt: the count misses those counted before the exporter
// first saw that commit).
func (e *exporter) dbErrorsSinceCommit(s ingest.Stats) (int64, bool) {
	n := s.Errors["database"]
	since := s.LastCommit
	if s.CheckpointRead.After(since) {
		since = s.CheckpointRead
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !since.Equal(e.commitSeen) || n < e.dbErrsAtSeen {
		e.commitSeen, e.dbErrsAtSeen = since, n
	}
	return n - e.dbErrsAtSeen, s.DatabaseErrorAt.After(since)
}

// Health is the body of /healthz.
type Health struct {
	// Status is "ok" or "unhealthy".
	Status string `json:"status"`
	// Reason says why, in words for the operator.
	Reason string `json:"reason"`
	// Offset is the checkpoint offset.
	Offset int64 `json:"offset"`
	// LedgerEndLag is the offsets behind the ledger end (negative: the
	// checkpoint is beyond it); nil (null) if unknown.
	LedgerEndLag *int64 `json:"ledger_end_lag"`
	// LastCommit is when the last batch committed; null before the first.
	LastCommit *time.Time `json:"last_commit"`
}

// observation is one consistent look at the ingester.
type observation struct {
	now    time.Time
	stats  ingest.Stats
	lag    int64
	lagOK  bool // lag is known
	lagErr error
	// dbErrs are the database errors since the last commit that the
	// exporter saw counted; dbFault says whether there was one at all.
	dbErrs  int64
	dbFault bool
	health  Health
}

func (e *exporter) observe(ctx context.Context) observation {
	o := observation{now: e.opts.Now()}
	if e.opts.LedgerEndLag != nil {
		ctx, cancel := context.WithTimeout(ctx, e.opts.LagTimeout)
		o.lag, o.lagErr = e.opts.LedgerEndLag(ctx)
		cancel()
		o.lagOK = o.lagErr == nil
	}
	o.stats = e.src()
	o.dbErrs, o.dbFault = e.dbErrorsSinceCommit(o.stats)
	if e.opts.LedgerEndLag == nil {
		// Whatever the Ingester's own calls found; unknown before one.
		o.lag, o.lagOK = o.stats.LedgerEndLag, !o.stats.LedgerEndLagAt.IsZero()
	}
	o.health = e.health(o)
	return o
}

func (e *exporter) health(o observation) Health {
	s := o.stats
	h := Health{Offset: s.Offset}
	if o.lagOK {
		lag := o.lag
		h.LedgerEndLag = &lag
	}
	if !s.LastCommit.IsZero() {
		t := s.LastCommit
		h.LastCommit = &t
	}
	ok := func(reason string) Health { h.Status, h.Reason = "ok", reason; return h }
	bad := func(reason string) Health { h.Status, h.Reason = "unhealthy", reason; return h }

	if e.opts.Check != nil {
		if err := e.opts.Check(); err != nil {
			return bad(err.Error())
		}
	}
	if s.State == ingest.StateStopped {
		return bad(fmt.Sprintf("stopped: Run has returned (at offset %d); nothing is ingesting", s.Offset))
	}
	silence := o.now.Sub(s.LastCommit)
	switch {
	case s.State == ingest.StateWaitingForLock:
		// Live whatever its participant, but a standby that could not
		// take over usefully says why (txhistory_ledger_reachable is 0).
		if o.lagErr != nil {
			return ok(fmt.Sprintf("standby: another ingester holds the schema's lock; the lag behind the participant's ledger end is unknown: %s", redactedLagErr(o)))
		}
		return ok("standby: another ingester holds the schema's lock")
	case !s.LastCommit.IsZero() && silence <= e.opts.MaxSilence:
		return ok(fmt.Sprintf("last commit %s ago at offset %d", round(silence), s.Offset))
	case o.lagOK && o.lag == 0 && e.opts.LedgerEndLag != nil && o.dbErrs == 0 && !o.dbFault:
		// At the ledger end, with no database fault since the last
		// commit: waiting for updates. (A negative lag is a checkpoint
		// beyond the ledger end: the ingester waits for, or stops on, a
		// participant restored from a backup.)
		return ok(fmt.Sprintf("caught up: the checkpoint %d is at the ledger end, waiting for new updates", s.Offset))
	case s.LastCommit.IsZero() && o.now.Sub(e.started) <= e.opts.StartupGrace:
		return ok(fmt.Sprintf("starting: no commit yet (%s since start)", round(o.now.Sub(e.started))))
	}
	var why strings.Builder
	if s.LastCommit.IsZero() {
		fmt.Fprintf(&why, "no commit in the %s since start", round(o.now.Sub(e.started)))
	} else {
		fmt.Fprintf(&why, "no commit for %s (more than %s) at offset %d", round(silence), e.opts.MaxSilence, s.Offset)
	}
	switch {
	case o.lagErr != nil:
		fmt.Fprintf(&why, "; the participant's ledger end is unknown: %s", redactedLagErr(o))
	case o.lagOK && o.lag > 0:
		fmt.Fprintf(&why, "; %d offsets behind the ledger end", o.lag)
	case o.lagOK && o.lag < 0:
		fmt.Fprintf(&why, "; the checkpoint is %d offsets beyond the participant's ledger end (a participant restored from a backup, or catching up)", -o.lag)
	}
	switch {
	case o.dbErrs > 0:
		fmt.Fprintf(&why, "; %d database errors since the last commit", o.dbErrs)
	case o.dbFault:
		fmt.Fprintf(&why, "; a database error at %s, since the last commit", s.DatabaseErrorAt.UTC().Format(time.RFC3339))
	}
	if n := sum(s.Errors); n > 0 {
		fmt.Fprintf(&why, "; errors so far: %s", formatErrors(s.Errors))
	}
	return bad(why.String())
}

// maxLagErr bounds the bytes of a LedgerEndLag error that /healthz quotes:
// a participant, or a proxy before it, may refuse in megabytes.
const maxLagErr = 1000

// redactedLagErr is o's LedgerEndLag error without the secrets it may
// quote (gRPC's refusal of a target such as https://user:password@host
// quotes it whole), as ingestd logs it: /healthz is served without
// authentication. Its start only, if it is longer than maxLagErr.
func redactedLagErr(o observation) string {
	msg := ingest.Redact(o.lagErr.Error())
	if len(msg) <= maxLagErr {
		return msg
	}
	cut := maxLagErr
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes)", msg[:cut], len(msg)-cut)
}

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func formatErrors(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func (e *exporter) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := e.observe(r.Context()).health
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if h.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(h)
}

// ContentType is the media type of the Prometheus text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

func (e *exporter) serveMetrics(w http.ResponseWriter, r *http.Request) {
	o := e.observe(r.Context())
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriter(w)
	e.write(bw, o)
	_ = bw.Flush()
}

func (e *exporter) write(w io.Writer, o observation) {
	s := o.stats
	p := promWriter{w: w, ns: e.opts.Namespace}
	p.metric("checkpoint_offset", "gauge", "Committed checkpoint offset.", float64(s.Offset))
	if o.lagOK {
		p.metric("ledger_end_lag", "gauge", "Offsets between the checkpoint and the participant's ledger end.", float64(o.lag))
	}
	if e.opts.LedgerEndLag != nil {
		p.metric("ledger_reachable", "gauge", "1 if the last ledger-end query succeeded.", b2f(o.lagErr == nil))
	}
	latest := s.RecordTime
	syncs := slices.Sorted(maps.Keys(s.RecordTimes))
	for _, id := range syncs {
		if t := s.RecordTimes[id]; t.After(latest) {
			latest = t
		}
	}
	if !latest.IsZero() {
		p.metric("record_time_lag_seconds", "gauge", "Now minus the latest ingested record time.", o.now.Sub(latest).Seconds())
	}
	if len(syncs) > 0 {
		p.header("record_time_seconds", "gauge", "Ingested record time per synchronizer, in Unix seconds.")
		for _, id := range syncs {
			p.sample("record_time_seconds", unixSeconds(s.RecordTimes[id]), "synchronizer", id)
		}
	}
	p.metric("transactions_per_second", "gauge", "New transactions per second over about the last ten seconds.", s.TxPerSecond)
	p.metric("last_batch_latency_seconds", "gauge", "Duration of the last commit, retries included.", s.LastBatchLatency.Seconds())
	if e.opts.Latency != nil {
		e.opts.Latency.write(&p, "batch_latency_seconds")
	}
	if !s.LastCommit.IsZero() {
		p.metric("last_commit_timestamp_seconds", "gauge", "When the last batch committed, in Unix seconds.", unixSeconds(s.LastCommit))
	}
	p.metric("transactions_total", "counter", "New transactions committed.", float64(s.Transactions))
	p.metric("skipped_transactions_total", "counter", "Transactions dropped by update-id dedup (already ingested).", float64(s.Skipped))
	p.metric("set_aside_transactions_total", "counter", "Transactions set aside for review.", float64(s.SetAside))
	p.metric("batches_total", "counter", "SQL transactions committed.", float64(s.Batches))
	p.metric("offset_checkpoints_total", "counter", "OffsetCheckpoints received.", float64(s.Checkpoints))
	p.header("errors_total", "counter", "Faults by kind.")
	kinds := slices.Clone(ErrorKinds)
	for k := range s.Errors {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	for _, k := range kinds {
		p.sample("errors_total", float64(s.Errors[k]), "kind", k)
	}
	p.metric("healthy", "gauge", "1 if /healthz answers 200.", b2f(o.health.Status == "ok"))
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// promWriter writes the Prometheus text format.
type promWriter struct {
	w  io.Writer
	ns string
}

func (p *promWriter) name(n string) string { return p.ns + "_" + n }

func (p *promWriter) header(name, typ, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", p.name(name), escapeHelp(help), p.name(name), typ)
}

// sample writes one line; labels alternate names and values.
func (p *promWriter) sample(name string, v float64, labels ...string) {
	p.sampleRaw(p.name(name), v, labels...)
}

func (p *promWriter) sampleRaw(full string, v float64, labels ...string) {
	var b strings.Builder
	b.WriteString(full)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(escapeLabel(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
	_, _ = io.WriteString(p.w, b.String())
}

func (p *promWriter) metric(name, typ, help string, v float64) {
	p.header(name, typ, help)
	p.sample(name, v)
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

// DefaultLatencyBuckets are the upper bounds, in seconds, of the batch
// latency histogram unless NewLatencyHistogram is given others.
var DefaultLatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// LatencyHistogram accumulates commit durations for the
// batch_latency_seconds histogram. Its Observe method has the signature of
// ingest.Config.OnCommit. Safe for concurrent use.
type LatencyHistogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []uint64 // per bucket, not cumulative
	sum    float64
	count  uint64
}

// NewLatencyHistogram returns a histogram with the given bucket upper
// bounds in seconds, or DefaultLatencyBuckets. They are sorted, a repeated
// bound counts once, and +Inf (always written) and NaN are dropped, so that
// each bucket series is written once.
func NewLatencyHistogram(bounds ...float64) *LatencyHistogram {
	if len(bounds) == 0 {
		bounds = DefaultLatencyBuckets
	}
	bounds = slices.DeleteFunc(slices.Clone(bounds), func(b float64) bool { return math.IsNaN(b) || math.IsInf(b, 1) })
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	return &LatencyHistogram{bounds: bounds, counts: make([]uint64, len(bounds))}
}

// Observe records the latency of the batch that s reports as committed
// last. Use it as ingest.Config.OnCommit, or call it from yours.
func (h *LatencyHistogram) Observe(s ingest.Stats) {
	h.ObserveDuration(s.LastBatchLatency)
}

// ObserveDuration records one commit duration.
func (h *LatencyHistogram) ObserveDuration(d time.Duration) {
	v := d.Seconds()
	h.mu.Lock()
	defer h.mu.Unlock()
	if i, _ := slices.BinarySearch(h.bounds, v); i < len(h.bounds) {
		h.counts[i]++
	}
	h.sum += v
	h.count++
}

func (h *LatencyHistogram) write(p *promWriter, name string) {
	h.mu.Lock()
	counts, sum, count := slices.Clone(h.counts), h.sum, h.count
	h.mu.Unlock()
	p.header(name, "histogram", "Commit durations of batches, retries included.")
	var cum uint64
	for i, b := range h.bounds {
		cum += counts[i]
		p.sampleRaw(p.name(name)+"_bucket", float64(cum), "le", formatFloat(b))
	}
	p.sampleRaw(p.name(name)+"_bucket", float64(count), "le", "+Inf")
	p.sampleRaw(p.name(name)+"_sum", sum)
	p.sampleRaw(p.name(name)+"_count", float64(count))
}

// validNamespace reports whether ns may begin a Prometheus metric name.
func validNamespace(ns string) bool {
	for i, c := range ns {
		switch {
		case c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return ns != ""
}
