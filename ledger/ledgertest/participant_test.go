package ledgertest

import (
	"context"
	"errors"
	"io"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/adminv30"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// waitFor bounds every wait for something the fake must send.
const waitFor = 5 * time.Second

// fixture is a participant with clients connected over loopback gRPC.
type fixture struct {
	p       *Participant
	updates lapiv2.UpdateServiceClient
	state   lapiv2.StateServiceClient
	admin   adminv30.PartyManagementServiceClient
}

func setup(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	p, err := New(opts...)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	conn := dial(t, p.Addr())
	adminConn := conn
	if p.AdminAddr() != p.Addr() {
		adminConn = dial(t, p.AdminAddr())
	}
	return &fixture{
		p:       p,
		updates: lapiv2.NewUpdateServiceClient(conn),
		state:   lapiv2.NewStateServiceClient(conn),
		admin:   adminv30.NewPartyManagementServiceClient(adminConn),
	}
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// Identifiers and transactions used across the tests.
var (
	amuletTemplate = ledger.MustParseIdentifier("pkg1:Splice.Amulet:Amulet")
	otherTemplate  = ledger.MustParseIdentifier("pkg1:Other.Mod:Thing")
	holdingIface   = ledger.MustParseIdentifier("#splice-api-token-holding-v1:Splice.Api.Token.HoldingV1:Holding")
	otherIface     = ledger.MustParseIdentifier("pkgI:Some.Iface:View")
)

func created(cid string, tmpl ledger.Identifier, witnesses ...string) *ledger.CreatedEvent {
	return &ledger.CreatedEvent{
		ContractID:      cid,
		TemplateID:      tmpl,
		CreateArguments: ledger.Record(nil, ledger.F("owner", ledger.Party(witnesses[0]))),
		WitnessParties:  witnesses,
		Signatories:     witnesses[:1],
	}
}

// txFor is a transaction with one created event witnessed by the parties.
func txFor(parties ...string) *ledger.Transaction {
	return &ledger.Transaction{Events: []ledger.Event{created("cid-"+parties[0], amuletTemplate, parties...)}}
}

func anyPartyFormat(verbose bool) *lapiv2.UpdateFormat {
	return &lapiv2.UpdateFormat{IncludeTransactions: &lapiv2.TransactionFormat{
		EventFormat: &lapiv2.EventFormat{
			FiltersForAnyParty: &lapiv2.Filters{Cumulative: []*lapiv2.CumulativeFilter{
				{IdentifierFilter: &lapiv2.CumulativeFilter_WildcardFilter{WildcardFilter: &lapiv2.WildcardFilter{}}},
			}},
			Verbose: verbose,
		},
		TransactionShape: lapiv2.TransactionShape_TRANSACTION_SHAPE_LEDGER_EFFECTS,
	}}
}

func partyFormat(filters map[string]*lapiv2.Filters) *lapiv2.UpdateFormat {
	return &lapiv2.UpdateFormat{IncludeTransactions: &lapiv2.TransactionFormat{
		EventFormat:      &lapiv2.EventFormat{FiltersByParty: filters, Verbose: true},
		TransactionShape: lapiv2.TransactionShape_TRANSACTION_SHAPE_LEDGER_EFFECTS,
	}}
}

func wildcard() *lapiv2.Filters { return &lapiv2.Filters{} }

func interfaceFilter(id ledger.Identifier, view bool) *lapiv2.CumulativeFilter {
	return &lapiv2.CumulativeFilter{IdentifierFilter: &lapiv2.CumulativeFilter_InterfaceFilter{
		InterfaceFilter: &lapiv2.InterfaceFilter{InterfaceId: id.Proto(), IncludeInterfaceView: view}}}
}

func templateFilter(id ledger.Identifier) *lapiv2.CumulativeFilter {
	return &lapiv2.CumulativeFilter{IdentifierFilter: &lapiv2.CumulativeFilter_TemplateFilter{
		TemplateFilter: &lapiv2.TemplateFilter{TemplateId: id.Proto()}}}
}

func tail(begin int64) *lapiv2.GetUpdatesRequest {
	return &lapiv2.GetUpdatesRequest{BeginExclusive: begin, UpdateFormat: anyPartyFormat(true)}
}

func bounded(begin, end int64) *lapiv2.GetUpdatesRequest {
	return &lapiv2.GetUpdatesRequest{BeginExclusive: begin, EndInclusive: proto.Int64(end), UpdateFormat: anyPartyFormat(true)}
}

// reader receives a stream's items in the background, in order, so that
// tests can wait for them with a timeout.
type reader struct {
	t     *testing.T
	items chan item
}

// item is one stream item, or the error that ended the stream.
type item struct {
	resp *lapiv2.GetUpdatesResponse
	err  error
}

func (f *fixture) open(t *testing.T, req *lapiv2.GetUpdatesRequest, callOpts ...grpc.CallOption) *reader {
	return openWith(t, context.Background(), f.updates, req, callOpts...)
}

func openWith(t *testing.T, ctx context.Context, c lapiv2.UpdateServiceClient, req *lapiv2.GetUpdatesRequest, callOpts ...grpc.CallOption) *reader {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.GetUpdates(ctx, req, callOpts...)
	require.NoError(t, err)
	r := &reader{t: t, items: make(chan item, 1000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			resp, err := stream.Recv()
			r.items <- item{resp, err}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func (r *reader) read() (item, bool) { return r.readWithin(waitFor) }

// readWithin returns the next item, or false if none arrives within d.
func (r *reader) readWithin(d time.Duration) (item, bool) {
	select {
	case it := <-r.items:
		return it, true
	case <-time.After(d):
		return item{}, false
	}
}

// next returns the next item, failing the test if the stream ends or nothing
// arrives in time.
func (r *reader) next() *lapiv2.GetUpdatesResponse {
	r.t.Helper()
	it, ok := r.read()
	switch {
	case !ok:
		r.t.Fatal("no stream item within the timeout")
	case it.err != nil:
		r.t.Fatalf("stream ended: %v", it.err)
	}
	return it.resp
}

func (r *reader) nextTx() *lapiv2.Transaction {
	r.t.Helper()
	it := r.next()
	require.NotNil(r.t, it.GetTransaction(), "want a transaction, got %v", it)
	return it.GetTransaction()
}

func (r *reader) nextCheckpoint() *lapiv2.OffsetCheckpoint {
	r.t.Helper()
	it := r.next()
	require.NotNil(r.t, it.GetOffsetCheckpoint(), "want a checkpoint, got %v", it)
	return it.GetOffsetCheckpoint()
}

// end waits for the stream to end after all items were read, and returns
// its error (io.EOF for a clean end).
func (r *reader) end() error {
	r.t.Helper()
	it, ok := r.read()
	switch {
	case !ok:
		r.t.Fatal("stream did not end within the timeout")
	case it.err == nil:
		r.t.Fatalf("want the end of the stream, got %v", it.resp)
	}
	return it.err
}

// rest reads the stream to its end and returns the transactions and the
// error that ended it.
func (r *reader) rest() ([]*lapiv2.Transaction, error) {
	r.t.Helper()
	var out []*lapiv2.Transaction
	for {
		it, ok := r.read()
		if !ok {
			r.t.Fatal("stream did not end within the timeout")
		}
		if it.err != nil {
			return out, it.err
		}
		out = append(out, it.resp.GetTransaction())
	}
}

// quiet asserts that nothing arrives for d. Used only to prove an absence.
func (r *reader) quiet(d time.Duration) {
	r.t.Helper()
	select {
	case it := <-r.items:
		r.t.Fatalf("want nothing, got %v / %v", it.resp, it.err)
	case <-time.After(d):
	}
}

var canonMessage = regexp.MustCompile(`^[A-Z_]+\(\d+,[0-9a-f]{8}\): .+`)

// requireError checks code, error id (ErrorInfo reason, message prefix) and
// returns the ErrorInfo metadata.
func requireError(t *testing.T, err error, code codes.Code, errorID string) map[string]string {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a gRPC status: %v", err)
	require.Equal(t, code, st.Code(), "status %v", st)
	require.Regexp(t, canonMessage, st.Message())
	require.Regexp(t, "^"+errorID+`\(`, st.Message())
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			require.Equal(t, errorID, info.GetReason())
			return info.GetMetadata()
		}
	}
	t.Fatalf("no ErrorInfo in %v", st)
	return nil
}

func txOffsets(txs []*ledger.Transaction) []int64 {
	out := make([]int64, len(txs))
	for i, tx := range txs {
		out[i] = tx.Offset
	}
	return out
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func TestAppendFillsInWhatTheCallerLeavesOut(t *testing.T) {
	p, err := New()
	require.NoError(t, err)
	defer p.Close()

	in := txFor("alice")
	in.Offset = 77 // ignored
	got, err := p.Append(in, txFor("bob"), &ledger.Transaction{UpdateID: "mine", SynchronizerID: "other::1", Events: []ledger.Event{created("c", amuletTemplate, "carol")}})
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2, 3}, txOffsets(got))
	require.Equal(t, "upd-1", got[0].UpdateID)
	require.Equal(t, "upd-2", got[1].UpdateID)
	require.Equal(t, "mine", got[2].UpdateID)
	require.Equal(t, DefaultSynchronizer, got[0].SynchronizerID)
	require.Equal(t, DefaultStartTime, got[0].RecordTime)
	require.Equal(t, DefaultStartTime.Add(time.Millisecond), got[1].RecordTime)
	require.Equal(t, DefaultStartTime, got[2].RecordTime, "first transaction of another synchronizer")
	require.Equal(t, got[1].RecordTime, got[1].EffectiveAt)
	require.Equal(t, int64(2), got[1].Events[0].(*ledger.CreatedEvent).Offset)
	require.Equal(t, int64(77), in.Offset, "the caller's transaction is not modified")
	require.Equal(t, int64(3), p.LedgerEnd())

	// Stored copies are independent of the returned ones.
	got[0].UpdateID = "changed"
	require.Equal(t, "upd-1", p.Transactions()[0].UpdateID)

	_, err = p.Append(&ledger.Transaction{UpdateID: "mine"})
	require.ErrorContains(t, err, `update id "mine" already exists`)
	_, err = p.Append(&ledger.Transaction{RecordTime: DefaultStartTime})
	require.ErrorContains(t, err, "before")
	require.Equal(t, int64(3), p.LedgerEnd(), "failed appends store nothing")
}

func TestNonUniqueRecordTimesAreAllowed(t *testing.T) {
	f := setup(t)
	rt := DefaultStartTime.Add(time.Hour)
	got, err := f.p.Append(
		&ledger.Transaction{RecordTime: rt, Events: txFor("alice").Events},
		&ledger.Transaction{RecordTime: rt, Events: txFor("alice").Events},
	)
	require.NoError(t, err)
	require.Equal(t, got[0].RecordTime, got[1].RecordTime)
	r := f.open(t, bounded(0, 2))
	require.Equal(t, ts(rt), ts(r.nextTx().GetRecordTime().AsTime()))
	require.Equal(t, ts(rt), ts(r.nextTx().GetRecordTime().AsTime()))
	require.ErrorIs(t, r.end(), io.EOF)
}

func TestOffsetStepMakesGaps(t *testing.T) {
	p, err := New(WithOffsetStep(10))
	require.NoError(t, err)
	defer p.Close()
	got, err := p.Append(txFor("a"), txFor("b"))
	require.NoError(t, err)
	require.Equal(t, []int64{10, 20}, txOffsets(got))
	p.AdvanceTime("", DefaultStartTime.Add(time.Minute))
	require.Equal(t, int64(30), p.LedgerEnd())
	require.Equal(t, DefaultStartTime.Add(time.Minute), p.ProcessedRecordTime(""))
}

func TestBoundedStreamDeliversExactlyTheRange(t *testing.T) {
	f := setup(t)
	for range 5 {
		_, err := f.p.Append(txFor("alice"))
		require.NoError(t, err)
	}

	r := f.open(t, bounded(1, 3))
	require.Equal(t, int64(2), r.nextTx().GetOffset())
	require.Equal(t, int64(3), r.nextTx().GetOffset())
	require.ErrorIs(t, r.end(), io.EOF, "a bounded stream ends after end_inclusive, without checkpoints")

	r = f.open(t, bounded(3, 3))
	require.ErrorIs(t, r.end(), io.EOF, "an empty range ends at once")

	r = f.open(t, bounded(0, 5))
	for want := int64(1); want <= 5; want++ {
		require.Equal(t, want, r.nextTx().GetOffset())
	}
	require.ErrorIs(t, r.end(), io.EOF)

	desc := bounded(1, 4)
	desc.DescendingOrder = true
	r = f.open(t, desc)
	for _, want := range []int64{4, 3, 2} {
		require.Equal(t, want, r.nextTx().GetOffset())
	}
	require.ErrorIs(t, r.end(), io.EOF)
}

func TestTailingStreamDeliversAppendsAndCheckpoints(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour)) // no checkpoint here may depend on idling
	got, err := f.p.Append(txFor("alice"), txFor("alice"), txFor("bob"))
	require.NoError(t, err)

	r := f.open(t, &lapiv2.GetUpdatesRequest{UpdateFormat: partyFormat(map[string]*lapiv2.Filters{"alice": wildcard()})})
	require.Equal(t, int64(1), r.nextTx().GetOffset())
	require.Equal(t, int64(2), r.nextTx().GetOffset())
	// The ledger end is past the last item sent: a checkpoint follows the batch.
	cp := r.nextCheckpoint()
	require.Equal(t, int64(3), cp.GetOffset())
	require.Len(t, cp.GetSynchronizerTimes(), 1)
	require.Equal(t, DefaultSynchronizer, cp.GetSynchronizerTimes()[0].GetSynchronizerId())
	require.Equal(t, ts(got[2].RecordTime), ts(cp.GetSynchronizerTimes()[0].GetRecordTime().AsTime()))

	later, err := f.p.Append(
		&ledger.Transaction{SynchronizerID: "other::1", RecordTime: DefaultStartTime.Add(time.Hour), Events: txFor("alice").Events},
		txFor("bob"),
	)
	require.NoError(t, err)
	tx := r.nextTx()
	require.Equal(t, int64(4), tx.GetOffset())
	require.Equal(t, later[0].UpdateID, tx.GetUpdateId())
	cp = r.nextCheckpoint()
	require.Equal(t, int64(5), cp.GetOffset())
	times := map[string]string{}
	for _, st := range cp.GetSynchronizerTimes() {
		times[st.GetSynchronizerId()] = ts(st.GetRecordTime().AsTime())
	}
	require.Equal(t, map[string]string{
		DefaultSynchronizer: ts(later[1].RecordTime),
		"other::1":          ts(DefaultStartTime.Add(time.Hour)),
	}, times)

	// A transaction at the ledger end needs no checkpoint right after it
	// (one at its offset comes only once the stream idled for the interval).
	_, err = f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.Equal(t, int64(6), r.nextTx().GetOffset())
	r.quiet(50 * time.Millisecond)
}

func TestTailingFromLedgerEndWaitsForAppends(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour)) // no checkpoint at begin_exclusive first
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	r := f.open(t, tail(1))
	_, err = f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.Equal(t, int64(2), r.nextTx().GetOffset())
}

func TestIdleCheckpointAfterAdvanceTime(t *testing.T) {
	f := setup(t, WithCheckpointInterval(20*time.Millisecond))
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	r := f.open(t, tail(1))

	t1 := DefaultStartTime.Add(time.Minute)
	f.p.AdvanceTime(DefaultSynchronizer, t1)
	cp := r.nextCheckpoint()
	if cp.GetOffset() == 1 { // the stream idled at begin_exclusive before the advance: Canton's checkpoint there
		cp = r.nextCheckpoint()
	}
	require.Equal(t, int64(2), cp.GetOffset(), "a time advance moves the ledger end")
	require.Equal(t, ts(t1), ts(cp.GetSynchronizerTimes()[0].GetRecordTime().AsTime()))

	t2 := t1.Add(time.Minute)
	f.p.AdvanceTime(DefaultSynchronizer, t2)
	cp = r.nextCheckpoint()
	require.Equal(t, int64(3), cp.GetOffset())
	require.Equal(t, ts(t2), ts(cp.GetSynchronizerTimes()[0].GetRecordTime().AsTime()))

	// The next transaction comes after the advanced time.
	got, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.Equal(t, t2.Add(time.Millisecond), got[0].RecordTime)
	require.Equal(t, int64(4), r.nextTx().GetOffset())
}

func TestCheckpointCoversFilteredOutTransactions(t *testing.T) {
	f := setup(t, WithCheckpointInterval(20*time.Millisecond))
	req := &lapiv2.GetUpdatesRequest{UpdateFormat: partyFormat(map[string]*lapiv2.Filters{"alice": wildcard()})}
	r := f.open(t, req)
	_, err := f.p.Append(txFor("bob"), txFor("bob"))
	require.NoError(t, err)
	cp := r.nextCheckpoint()
	require.Equal(t, int64(2), cp.GetOffset(), "the ledger end passed the last item even though nothing was visible")

	_, err = f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.Equal(t, int64(3), r.nextTx().GetOffset())
}

func TestGetUpdatesErrors(t *testing.T) {
	f := setup(t)
	for range 10 {
		_, err := f.p.Append(txFor("alice"))
		require.NoError(t, err)
	}
	require.NoError(t, f.p.Prune(4))

	cases := []struct {
		name string
		req  *lapiv2.GetUpdatesRequest
		code codes.Code
		id   string
	}{
		{"negative begin", tail(-1), codes.InvalidArgument, ErrorIDNegativeOffset},
		{"begin after ledger end", tail(11), codes.OutOfRange, ErrorIDOffsetAfterLedgerEnd},
		{"bounded begin after ledger end", bounded(11, 12), codes.OutOfRange, ErrorIDOffsetAfterLedgerEnd},
		{"end after ledger end", bounded(5, 11), codes.OutOfRange, ErrorIDOffsetAfterLedgerEnd},
		{"end before begin", bounded(8, 6), codes.FailedPrecondition, ErrorIDOffsetOutOfRange},
		{"begin below pruning", tail(3), codes.FailedPrecondition, ErrorIDPrunedDataAccessed},
		{"no update format", &lapiv2.GetUpdatesRequest{BeginExclusive: 5}, codes.InvalidArgument, ErrorIDMissingField},
		{"unspecified shape", &lapiv2.GetUpdatesRequest{BeginExclusive: 5, UpdateFormat: &lapiv2.UpdateFormat{IncludeTransactions: &lapiv2.TransactionFormat{
			EventFormat: anyPartyFormat(true).GetIncludeTransactions().GetEventFormat()}}}, codes.InvalidArgument, ErrorIDInvalidArgument},
		{"no filters", &lapiv2.GetUpdatesRequest{BeginExclusive: 5, UpdateFormat: partyFormat(nil)}, codes.InvalidArgument, ErrorIDInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.open(t, c.req)
			md := requireError(t, r.end(), c.code, c.id)
			if c.id == ErrorIDPrunedDataAccessed {
				require.Equal(t, "4", md[MetadataEarliestOffset])
			}
		})
	}

	t.Run("begin at pruning offset", func(t *testing.T) {
		r := f.open(t, bounded(4, 5))
		require.Equal(t, int64(5), r.nextTx().GetOffset())
		require.ErrorIs(t, r.end(), io.EOF)
	})
	t.Run("pruned offsets reported", func(t *testing.T) {
		resp, err := f.state.GetLatestPrunedOffsets(ctxT(t), &lapiv2.GetLatestPrunedOffsetsRequest{})
		require.NoError(t, err)
		require.Equal(t, int64(4), resp.GetParticipantPrunedUpToInclusive())
		require.Error(t, f.p.Prune(11), "cannot prune beyond the ledger end")
	})
	t.Run("ledger end", func(t *testing.T) {
		resp, err := f.state.GetLedgerEnd(ctxT(t), &lapiv2.GetLedgerEndRequest{})
		require.NoError(t, err)
		require.Equal(t, int64(10), resp.GetOffset())
	})
}

func TestPruningBelowAnOpenStreamAbortsIt(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	f.p.StallStreams(true)
	r := f.open(t, tail(0))
	_, err = f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.NoError(t, f.p.Prune(2))
	f.p.StallStreams(false)
	md := requireError(t, r.end(), codes.FailedPrecondition, ErrorIDPrunedDataAccessed)
	require.Equal(t, "2", md[MetadataEarliestOffset])
}

func TestPartyFilteringCreatesOffsetGaps(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	_, err := f.p.Append(txFor("alice", "bob"), txFor("bob"), txFor("carol", "alice"), txFor("dave"))
	require.NoError(t, err)

	r := f.open(t, &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(4), UpdateFormat: partyFormat(map[string]*lapiv2.Filters{"alice": wildcard()})})
	tx := r.nextTx()
	require.Equal(t, int64(1), tx.GetOffset())
	require.Equal(t, []string{"alice"}, tx.GetEvents()[0].GetCreated().GetWitnessParties(), "witnesses are the requested parties")
	tx = r.nextTx()
	require.Equal(t, int64(3), tx.GetOffset())
	require.ErrorIs(t, r.end(), io.EOF)

	// Tailing with several parties: one checkpoint at the ledger end follows.
	r = f.open(t, &lapiv2.GetUpdatesRequest{UpdateFormat: partyFormat(map[string]*lapiv2.Filters{"alice": wildcard(), "bob": wildcard()})})
	require.Equal(t, []string{"alice", "bob"}, r.nextTx().GetEvents()[0].GetCreated().GetWitnessParties())
	require.Equal(t, int64(2), r.nextTx().GetOffset())
	require.Equal(t, int64(3), r.nextTx().GetOffset())
	require.Equal(t, int64(4), r.nextCheckpoint().GetOffset())

	// Any party sees everything, with all witnesses.
	r = f.open(t, bounded(0, 4))
	require.Equal(t, []string{"alice", "bob"}, r.nextTx().GetEvents()[0].GetCreated().GetWitnessParties())
	for want := int64(2); want <= 4; want++ {
		require.Equal(t, want, r.nextTx().GetOffset())
	}
}

func TestTemplateAndInterfaceFilters(t *testing.T) {
	f := setup(t)
	holding := created("h1", amuletTemplate, "alice")
	holding.InterfaceViews = []ledger.InterfaceView{
		{InterfaceID: holdingIface, Value: ledger.Record(nil, ledger.F("owner", ledger.Party("alice")))},
		{InterfaceID: otherIface, Value: ledger.Record(nil, ledger.F("x", ledger.Int64(1)))},
	}
	holding.CreatedEventBlob = []byte("blob")
	thing := created("t1", otherTemplate, "alice")
	exercise := &ledger.ExercisedEvent{NodeID: 2, ContractID: "x1", TemplateID: amuletTemplate, Choice: "Transfer",
		WitnessParties: []string{"alice"}, ImplementedInterfaces: []ledger.Identifier{holdingIface}, LastDescendantNodeID: 2}
	_, err := f.p.Append(
		&ledger.Transaction{Events: []ledger.Event{holding, thing}},
		&ledger.Transaction{Events: []ledger.Event{thing}},
		&ledger.Transaction{Events: []ledger.Event{exercise}},
	)
	require.NoError(t, err)

	get := func(t *testing.T, filters ...*lapiv2.CumulativeFilter) []*lapiv2.Transaction {
		r := f.open(t, &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(3),
			UpdateFormat: partyFormat(map[string]*lapiv2.Filters{"alice": {Cumulative: filters}})})
		txs, err := r.rest()
		require.ErrorIs(t, err, io.EOF)
		return txs
	}

	t.Run("interface filter with view", func(t *testing.T) {
		txs := get(t, interfaceFilter(holdingIface, true))
		require.Len(t, txs, 2, "the holding create and the exercise on a holding")
		c := txs[0].GetEvents()[0].GetCreated()
		require.Len(t, txs[0].GetEvents(), 1)
		require.Equal(t, "h1", c.GetContractId())
		require.Len(t, c.GetInterfaceViews(), 1, "only the requested view")
		require.Equal(t, "Holding", c.GetInterfaceViews()[0].GetInterfaceId().GetEntityName())
		require.Empty(t, c.GetCreatedEventBlob(), "blob not requested")
		require.Equal(t, int64(3), txs[1].GetOffset())
	})
	t.Run("interface filter without view", func(t *testing.T) {
		txs := get(t, interfaceFilter(holdingIface, false))
		require.Empty(t, txs[0].GetEvents()[0].GetCreated().GetInterfaceViews())
	})
	t.Run("template filter ignores the package", func(t *testing.T) {
		other := otherTemplate
		other.PackageID = "#other-package-name"
		txs := get(t, templateFilter(other))
		require.Len(t, txs, 2)
		require.Equal(t, "t1", txs[0].GetEvents()[0].GetCreated().GetContractId())
		require.Len(t, txs[0].GetEvents(), 1)
		require.Equal(t, int64(2), txs[1].GetOffset())
	})
	t.Run("wildcard with blob keeps everything", func(t *testing.T) {
		txs := get(t, &lapiv2.CumulativeFilter{IdentifierFilter: &lapiv2.CumulativeFilter_WildcardFilter{
			WildcardFilter: &lapiv2.WildcardFilter{IncludeCreatedEventBlob: true}}})
		require.Len(t, txs, 3)
		c := txs[0].GetEvents()[0].GetCreated()
		require.Equal(t, []byte("blob"), c.GetCreatedEventBlob())
		require.Empty(t, c.GetInterfaceViews(), "views only for interface filters that ask for them")
	})
}

func TestVerboseFalseStripsLabels(t *testing.T) {
	f := setup(t)
	recID := ledger.MustParseIdentifier("pkg:Mod:Rec")
	args := ledger.Record(&recID,
		ledger.F("owner", ledger.Party("alice")),
		ledger.F("inner", ledger.Record(&recID, ledger.F("amount", ledger.Numeric("1.0")), ledger.F("memo", ledger.None()))),
		ledger.F("list", ledger.List(ledger.Record(nil, ledger.F("k", ledger.Text("v"))))),
		ledger.F("note", ledger.Some(ledger.Text("n"))),
		ledger.F("extra", ledger.None()),
	)
	ev := created("c1", amuletTemplate, "alice")
	ev.CreateArguments = args
	ex := &ledger.ExercisedEvent{NodeID: 1, ContractID: "c0", TemplateID: amuletTemplate, Choice: "Go", Consuming: true,
		ChoiceArgument: ledger.Record(nil, ledger.F("arg", ledger.Int64(1))), ExerciseResult: ledger.Record(nil, ledger.F("res", ledger.Int64(2))),
		WitnessParties: []string{"alice"}, LastDescendantNodeID: 1}
	_, err := f.p.Append(&ledger.Transaction{Events: []ledger.Event{ev, ex}})
	require.NoError(t, err)

	r := f.open(t, &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(1), UpdateFormat: anyPartyFormat(false)})
	tx := r.nextTx()
	rec := tx.GetEvents()[0].GetCreated().GetCreateArguments()
	require.Nil(t, rec.GetRecordId())
	require.Len(t, rec.GetFields(), 4, "the trailing None is dropped")
	for _, fl := range rec.GetFields() {
		require.Empty(t, fl.GetLabel())
	}
	inner := rec.GetFields()[1].GetValue().GetRecord()
	require.Len(t, inner.GetFields(), 1, "nested trailing None dropped too")
	require.Empty(t, inner.GetFields()[0].GetLabel())
	require.Empty(t, rec.GetFields()[2].GetValue().GetList().GetElements()[0].GetRecord().GetFields()[0].GetLabel())
	x := tx.GetEvents()[1].GetExercised()
	require.Empty(t, x.GetChoiceArgument().GetRecord().GetFields()[0].GetLabel())
	require.Empty(t, x.GetExerciseResult().GetRecord().GetFields()[0].GetLabel())

	// Decoded, the positional record has no labels to look fields up by.
	decoded, err := ledger.TransactionFromProto(tx)
	require.NoError(t, err)
	_, ok := decoded.Events[0].(*ledger.CreatedEvent).CreateArguments.Field("owner")
	require.False(t, ok)

	r = f.open(t, bounded(0, 1))
	tx = r.nextTx()
	rec = tx.GetEvents()[0].GetCreated().GetCreateArguments()
	require.Equal(t, "owner", rec.GetFields()[0].GetLabel())
	require.Len(t, rec.GetFields(), 5)
	require.Equal(t, "Rec", rec.GetRecordId().GetEntityName())
}

func TestACSDeltaShape(t *testing.T) {
	f := setup(t)
	_, err := f.p.Append(&ledger.Transaction{Events: []ledger.Event{
		&ledger.ExercisedEvent{NodeID: 0, ContractID: "old", TemplateID: amuletTemplate, Choice: "Transfer", Consuming: true,
			WitnessParties: []string{"alice"}, LastDescendantNodeID: 3},
		created("new", amuletTemplate, "alice"),
		created("transient", amuletTemplate, "alice"),
		&ledger.ExercisedEvent{NodeID: 3, ContractID: "transient", TemplateID: amuletTemplate, Choice: "Archive", Consuming: true,
			WitnessParties: []string{"alice"}, LastDescendantNodeID: 3},
		&ledger.ExercisedEvent{NodeID: 4, ContractID: "new", TemplateID: amuletTemplate, Choice: "Look",
			WitnessParties: []string{"alice"}, LastDescendantNodeID: 4},
	}})
	require.NoError(t, err)
	req := bounded(0, 1)
	req.UpdateFormat.IncludeTransactions.TransactionShape = lapiv2.TransactionShape_TRANSACTION_SHAPE_ACS_DELTA
	tx := f.open(t, req).nextTx()
	require.Len(t, tx.GetEvents(), 2)
	require.Equal(t, "old", tx.GetEvents()[0].GetArchived().GetContractId())
	require.Equal(t, "new", tx.GetEvents()[1].GetCreated().GetContractId())
}

func TestGetUpdateByID(t *testing.T) {
	f := setup(t)
	got, err := f.p.Append(txFor("alice"), txFor("bob"))
	require.NoError(t, err)

	resp, err := f.updates.GetUpdateById(ctxT(t), &lapiv2.GetUpdateByIdRequest{UpdateId: got[1].UpdateID, UpdateFormat: anyPartyFormat(true)})
	require.NoError(t, err)
	require.Equal(t, int64(2), resp.GetTransaction().GetOffset())

	_, err = f.updates.GetUpdateById(ctxT(t), &lapiv2.GetUpdateByIdRequest{UpdateId: "nope", UpdateFormat: anyPartyFormat(true)})
	requireError(t, err, codes.NotFound, ErrorIDUpdateNotFound)

	_, err = f.updates.GetUpdateById(ctxT(t), &lapiv2.GetUpdateByIdRequest{UpdateId: got[1].UpdateID,
		UpdateFormat: partyFormat(map[string]*lapiv2.Filters{"alice": wildcard()})})
	requireError(t, err, codes.NotFound, ErrorIDUpdateNotFound)

	require.NoError(t, f.p.Prune(1))
	_, err = f.updates.GetUpdateById(ctxT(t), &lapiv2.GetUpdateByIdRequest{UpdateId: got[0].UpdateID, UpdateFormat: anyPartyFormat(true)})
	requireError(t, err, codes.NotFound, ErrorIDUpdateNotFound)
}

func TestDropStreamsAfter(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	for range 5 {
		_, err := f.p.Append(txFor("alice"))
		require.NoError(t, err)
	}
	f.p.DropStreamsAfter(2)
	r := f.open(t, bounded(0, 5))
	r.nextTx()
	r.nextTx()
	err := r.end()
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)

	// An open stream that already sent more items breaks as soon as the switch is set.
	f.p.DropStreamsAfter(0)
	r = f.open(t, tail(0))
	for range 5 {
		r.nextTx()
	}
	f.p.DropStreamsAfter(3)
	require.Equal(t, codes.Unavailable, status.Code(r.end()))

	f.p.DropStreamsAfter(0)
	r = f.open(t, bounded(0, 5))
	for range 5 {
		r.nextTx()
	}
	require.ErrorIs(t, r.end(), io.EOF)
}

func TestFailNext(t *testing.T) {
	f := setup(t)
	f.p.FailNext("GetLedgerEnd", 2, codes.Unavailable)
	for range 2 {
		_, err := f.state.GetLedgerEnd(ctxT(t), &lapiv2.GetLedgerEndRequest{})
		requireError(t, err, codes.Unavailable, ErrorIDInjectedFault)
	}
	_, err := f.state.GetLedgerEnd(ctxT(t), &lapiv2.GetLedgerEndRequest{})
	require.NoError(t, err)
	require.Equal(t, 3, f.p.Calls("GetLedgerEnd"))
	require.Equal(t, 3, f.p.Calls(MethodGetLedgerEnd))

	f.p.FailNext(MethodGetUpdates, 1, codes.Internal)
	err = f.open(t, tail(0)).end()
	require.Equal(t, codes.Internal, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "An error occurred.", "redacted as Canton redacts INTERNAL errors")
	r := f.open(t, bounded(0, 0))
	requireError(t, r.end(), codes.InvalidArgument, ErrorIDNonPositiveOffset)
	require.Equal(t, 2, f.p.Calls("GetUpdates"))

	require.Panics(t, func() { f.p.FailNext("GetUpdate", 1, codes.Internal) }, "a misspelt method name is a test bug")
}

func TestInterceptSeesRequestsAndCanFailThem(t *testing.T) {
	f := setup(t)
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	seen := make(chan int64, 10)
	f.p.Intercept("GetUpdates", func(ctx context.Context, req proto.Message) error {
		md, _ := metadata.FromIncomingContext(ctx)
		if len(md.Get("x-test")) == 0 {
			return errors.New("missing x-test")
		}
		r := req.(*lapiv2.GetUpdatesRequest)
		seen <- r.GetBeginExclusive()
		if r.GetBeginExclusive() == 1 {
			return StatusError(codes.Aborted, "STALE_STREAM_AUTHORIZATION", "rights changed", nil)
		}
		return nil
	})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-test", "1")
	requireError(t, openWith(t, ctx, f.updates, tail(1)).end(), codes.Aborted, "STALE_STREAM_AUTHORIZATION")
	require.Equal(t, int64(1), <-seen)
	r := openWith(t, ctx, f.updates, bounded(0, 1))
	r.nextTx()
	require.ErrorIs(t, r.end(), io.EOF)
	require.Equal(t, int64(0), <-seen)

	f.p.Intercept("GetUpdates", nil)
	r = f.open(t, bounded(0, 1)) // no metadata needed without the hook
	r.nextTx()
	require.ErrorIs(t, r.end(), io.EOF)
}

func TestRequestsAreRecorded(t *testing.T) {
	f := setup(t)
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	_, err = f.open(t, bounded(0, 1)).rest()
	require.ErrorIs(t, err, io.EOF)
	_, err = f.open(t, tail(5)).rest() // fails, still recorded
	require.Equal(t, codes.OutOfRange, status.Code(err))
	reqs := f.p.Requests()
	require.Len(t, reqs, 2)
	require.True(t, proto.Equal(bounded(0, 1), reqs[0]))
	require.Equal(t, int64(5), reqs[1].GetBeginExclusive())
	reqs[0].BeginExclusive = 99
	require.Equal(t, int64(0), f.p.Requests()[0].GetBeginExclusive(), "Requests returns copies")
}

func TestTokenIsRequired(t *testing.T) {
	f := setup(t, WithToken("secret"))
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)

	_, err = f.state.GetLedgerEnd(ctxT(t), &lapiv2.GetLedgerEndRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	require.NotContains(t, err.Error(), "secret")
	bad := metadata.AppendToOutgoingContext(ctxT(t), "authorization", "Bearer wrong")
	_, err = f.state.GetLedgerEnd(bad, &lapiv2.GetLedgerEndRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))

	good := metadata.AppendToOutgoingContext(ctxT(t), "authorization", "Bearer secret")
	resp, err := f.state.GetLedgerEnd(good, &lapiv2.GetLedgerEndRequest{})
	require.NoError(t, err)
	require.Equal(t, int64(1), resp.GetOffset())

	require.Equal(t, codes.Unauthenticated, status.Code(f.open(t, bounded(0, 1)).end()))
	r := openWith(t, good, f.updates, bounded(0, 1))
	r.nextTx()
	require.ErrorIs(t, r.end(), io.EOF)

	_, err = f.admin.GetHighestOffsetByTimestamp(ctxT(t), &adminv30.GetHighestOffsetByTimestampRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err), "the admin API checks the token too")

	// Token rotation: the old token stops working for new calls.
	f.p.SetToken("rotated")
	_, err = f.state.GetLedgerEnd(good, &lapiv2.GetLedgerEndRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
}

func TestExpireTokenOnStreams(t *testing.T) {
	f := setup(t, WithToken("tok"), WithCheckpointInterval(time.Hour)) // no checkpoint at the ledger end in between
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer tok")
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	r := openWith(t, ctx, f.updates, tail(0))
	r.nextTx()
	f.p.ExpireTokenOnStreams()
	requireError(t, r.end(), codes.Aborted, ErrorIDAccessTokenExpired)

	r = openWith(t, ctx, f.updates, tail(1)) // a new stream is not affected
	_, err = f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.Equal(t, int64(2), r.nextTx().GetOffset())
}

func TestStallStreamsAndDelay(t *testing.T) {
	f := setup(t, WithCheckpointInterval(10*time.Millisecond))
	r := f.open(t, tail(0))
	f.p.StallStreams(true)
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	f.p.AdvanceTime("", DefaultStartTime.Add(time.Hour))
	r.quiet(60 * time.Millisecond) // neither the transaction nor a checkpoint
	f.p.StallStreams(false)
	require.Equal(t, int64(1), r.nextTx().GetOffset())
	require.Equal(t, int64(2), r.nextCheckpoint().GetOffset())

	f.p.SetDelay(30 * time.Millisecond)
	start := time.Now()
	_, err = f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.Equal(t, int64(3), r.nextTx().GetOffset())
	require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
}

func TestStreamsNoticeCancellationAndClose(t *testing.T) {
	p, err := New()
	require.NoError(t, err)
	conn := dial(t, p.Addr())
	c := lapiv2.NewUpdateServiceClient(conn)

	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.GetUpdates(ctx, tail(0))
	require.NoError(t, err)
	cancel()
	_, err = stream.Recv()
	require.Equal(t, codes.Canceled, status.Code(err))

	r := openWith(t, context.Background(), c, tail(0))
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	require.Equal(t, codes.Unavailable, status.Code(r.end()))
	select {
	case <-closed:
	case <-time.After(waitFor):
		t.Fatal("Close did not return")
	}
	p.Close() // idempotent
	_, err = p.Append(txFor("alice"))
	require.Error(t, err)
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	p, err := New(WithSeparateAdmin(), WithCheckpointInterval(time.Millisecond))
	require.NoError(t, err)
	conn, err := grpc.NewClient(p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	f := &fixture{p: p, updates: lapiv2.NewUpdateServiceClient(conn)}
	_, err = p.Append(txFor("alice"))
	require.NoError(t, err)
	r := f.open(t, tail(0))
	r.nextTx()
	p.StallStreams(true) // a handler waiting in a stall must end too
	r2 := f.open(t, tail(1))
	p.Close()
	// r may have got the checkpoint at offset 1 (the ledger end) before the stall.
	_, err = r.rest()
	require.Equal(t, codes.Unavailable, status.Code(err))
	_, err = r2.rest()
	require.Equal(t, codes.Unavailable, status.Code(err))
	conn.Close()
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling the count, not ordering events
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before)
}

func TestBackupRestoreKeepsUpdateIDsWithNewOffsets(t *testing.T) {
	f := setup(t)
	before, err := f.p.Append(txFor("alice"), txFor("alice"), txFor("alice"))
	require.NoError(t, err)
	require.NoError(t, f.p.Prune(1))
	backup := f.p.Backup()
	require.Equal(t, int64(3), backup.LedgerEnd())
	after, err := f.p.Append(txFor("alice"), txFor("alice"))
	require.NoError(t, err)
	require.NoError(t, f.p.Prune(4))
	r := f.open(t, tail(4))
	require.Equal(t, int64(5), r.nextTx().GetOffset()) // the stream is open

	f.p.Restore(backup)
	// Open streams end as the node restarts.
	err = r.end()
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)

	got := f.p.Transactions()
	require.Len(t, got, 5)
	require.Equal(t, []int64{1, 2, 3, 1004, 1005}, txOffsets(got))
	for i, old := range append(before, after...) {
		require.Equal(t, old.UpdateID, got[i].UpdateID)
		require.Equal(t, old.RecordTime, got[i].RecordTime)
		require.Equal(t, got[i].Offset, got[i].Events[0].(*ledger.CreatedEvent).Offset)
	}
	require.Equal(t, int64(1005), f.p.LedgerEnd())
	require.Equal(t, after[1].RecordTime, f.p.ProcessedRecordTime(""))

	resp, err := f.state.GetLatestPrunedOffsets(ctxT(t), &lapiv2.GetLatestPrunedOffsetsRequest{})
	require.NoError(t, err)
	require.Equal(t, int64(1), resp.GetParticipantPrunedUpToInclusive(), "pruning is the snapshot's")

	// The restored participant knows the last ingested update under a new offset.
	byID, err := f.updates.GetUpdateById(ctxT(t), &lapiv2.GetUpdateByIdRequest{UpdateId: after[1].UpdateID, UpdateFormat: anyPartyFormat(true)})
	require.NoError(t, err)
	require.Equal(t, int64(1005), byID.GetTransaction().GetOffset())

	// A consumer resuming from its old offset 5 is now below the ledger end and
	// would silently skip: the runbook must recompute the offset instead.
	r = f.open(t, bounded(3, 1005))
	require.Equal(t, after[0].UpdateID, r.nextTx().GetUpdateId())
	require.Equal(t, after[1].UpdateID, r.nextTx().GetUpdateId())
	require.ErrorIs(t, r.end(), io.EOF)

	// New transactions come after the recovered ones; the old update ids
	// cannot be appended again.
	later, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.Equal(t, int64(1006), later[0].Offset)
	_, err = f.p.Append(&ledger.Transaction{UpdateID: after[0].UpdateID})
	require.Error(t, err)
}

func TestRestoreWithManualCatchUpLags(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	backup := f.p.Backup()
	after, err := f.p.Append(txFor("alice"), txFor("alice"))
	require.NoError(t, err)
	tAdvance := after[1].RecordTime.Add(time.Second)
	f.p.AdvanceTime("", tAdvance)

	f.p.Restore(backup, WithCatchUp(true), WithOffsetShift(100))
	require.Equal(t, int64(1), f.p.LedgerEnd())
	require.Equal(t, 2, f.p.Pending())
	require.Equal(t, DefaultStartTime, f.p.ProcessedRecordTime(""))
	_, err = f.updates.GetUpdateById(ctxT(t), &lapiv2.GetUpdateByIdRequest{UpdateId: after[0].UpdateID, UpdateFormat: anyPartyFormat(true)})
	requireError(t, err, codes.NotFound, ErrorIDUpdateNotFound)

	r := f.open(t, tail(1))
	// A transaction appended while catching up queues behind the recovered ones.
	queued, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.Equal(t, int64(0), queued[0].Offset)
	require.Equal(t, tAdvance.Add(time.Millisecond), queued[0].RecordTime)
	require.Equal(t, 3, f.p.Pending())

	require.Equal(t, 1, f.p.CatchUp(1))
	require.Equal(t, int64(102), f.p.LedgerEnd())
	require.Equal(t, after[0].RecordTime, f.p.ProcessedRecordTime(""))
	tx := r.nextTx()
	require.Equal(t, after[0].UpdateID, tx.GetUpdateId())
	require.Equal(t, int64(102), tx.GetOffset())

	require.Equal(t, 2, f.p.CatchUp(-1))
	require.Equal(t, 0, f.p.Pending())
	require.Equal(t, int64(103), r.nextTx().GetOffset())
	tx = r.nextTx()
	require.Equal(t, queued[0].UpdateID, tx.GetUpdateId())
	require.Equal(t, int64(105), tx.GetOffset(), "after the recovered update and the time advance")
	require.Equal(t, ts(queued[0].RecordTime), ts(tx.GetRecordTime().AsTime()))
	require.Equal(t, queued[0].RecordTime, f.p.ProcessedRecordTime(""))
}

func TestRestoreTwiceFromTheSameBackup(t *testing.T) {
	p, err := New(WithOffsetStep(10))
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(txFor("a"))
	require.NoError(t, err)
	backup := p.Backup()
	_, err = p.Append(txFor("b"))
	require.NoError(t, err)
	p.Restore(backup, WithOffsetShift(-5))
	require.Equal(t, []int64{10, 15}, txOffsets(p.Transactions()), "offsets may also shrink")
	p.Restore(backup, WithOffsetShift(0))
	require.Equal(t, []int64{10, 20}, txOffsets(p.Transactions()))
	ids := []string{}
	for _, tx := range p.Transactions() {
		ids = append(ids, tx.UpdateID)
	}
	require.Equal(t, []string{"upd-1", "upd-2"}, ids)
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, opt := range []Option{WithOffsetStep(0), WithCheckpointInterval(0), WithSynchronizer(""), WithAdminBehaviour(0)} {
		_, err := New(opt)
		require.Error(t, err)
	}
}

// The reference's errors table: pruning that runs while a stream is open
// aborts it; the client re-opens from its last offset, which succeeds if
// that offset is not below the pruning offset.
func TestPruningAbortsAnOpenStreamAboveIt(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	_, err := f.p.Append(txFor("alice"), txFor("alice"), txFor("alice"))
	require.NoError(t, err)
	r := f.open(t, tail(2))
	require.Equal(t, int64(3), r.nextTx().GetOffset())
	require.NoError(t, f.p.Prune(2))
	err = r.end()
	require.Equal(t, codes.Aborted, status.Code(err), "%v", err)

	_, err = f.p.Append(txFor("alice"))
	require.NoError(t, err)
	again := f.open(t, tail(3))
	require.Equal(t, int64(4), again.nextTx().GetOffset(), "re-opened from the last offset")
	require.NoError(t, f.p.Prune(1), "pruning to an offset below the pruning offset changes nothing")
	_, err = f.p.Append(txFor("alice"))
	require.NoError(t, err)
	require.Equal(t, int64(5), again.nextTx().GetOffset(), "the stream stays open")
}

// While a Restore's recovery is pending (manual catch-up), a time advance
// queues behind the recovered updates, as Append's transactions do: the
// ledger end and the processed record time move when CatchUp reaches it.
func TestAdvanceTimeWhileCatchingUpQueues(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	backup := f.p.Backup()
	_, err = f.p.Append(txFor("alice"))
	require.NoError(t, err)
	f.p.Restore(backup, WithCatchUp(true))
	end, before := f.p.LedgerEnd(), f.p.ProcessedRecordTime("")

	tAdvance := DefaultStartTime.Add(time.Hour)
	f.p.AdvanceTime("", tAdvance)
	require.Equal(t, end, f.p.LedgerEnd(), "queued behind the pending transaction")
	require.Equal(t, before, f.p.ProcessedRecordTime(""))

	require.Equal(t, 1, f.p.CatchUp(-1))
	require.Equal(t, end+DefaultOffsetShift+2, f.p.LedgerEnd(), "the recovered transaction, then the advance")
	require.Equal(t, tAdvance, f.p.ProcessedRecordTime(""))
}
