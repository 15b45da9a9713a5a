package ledgertest

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// FailNext with codes.OK cannot fail a call: a gRPC status OK is no error.
// Accepting it lets a test of the client's error handling pass without the
// client ever seeing an error, so it is a bug in the test, refused as a
// misspelt method name is.
func TestFailNextRefusesCodeOK(t *testing.T) {
	f := setup(t)
	require.Panics(t, func() { f.p.FailNext("GetLedgerEnd", 1, codes.OK) },
		"FailNext with codes.OK was accepted: it injects no fault")
	_, err := f.state.GetLedgerEnd(ctxT(t), &lapiv2.GetLedgerEndRequest{})
	require.NoError(t, err)
}

// Append refuses a nil transaction with an error; a nil event is the same
// bug in the test. It must not vanish from the transaction (the stream
// then shows one event fewer than the test wrote), nor crash Append with a
// nil dereference, and nothing of the call may be appended.
func TestAppendRefusesNilEvents(t *testing.T) {
	p, err := New()
	require.NoError(t, err)
	defer p.Close()
	var typedNil *ledger.CreatedEvent
	for name, ev := range map[string]ledger.Event{"nil": nil, "nil *CreatedEvent": typedNil} {
		t.Run(name, func(t *testing.T) {
			var got []*ledger.Transaction
			require.NotPanics(t, func() {
				got, err = p.Append(txFor("alice"), &ledger.Transaction{Events: []ledger.Event{created("c", amuletTemplate, "alice"), ev}})
			}, "Append crashed on a %s event", name)
			var kept []int
			for _, tx := range got {
				kept = append(kept, len(tx.Events))
			}
			require.Error(t, err, "Append accepted a %s event; events kept per transaction: %v", name, kept)
			require.Contains(t, err.Error(), "event 1 is nil")
			require.Zero(t, p.LedgerEnd(), "a failed Append stored transactions")
		})
	}
}

// AdvanceTime with the zero time on a synchronizer that has no record time
// yet stored the zero time, which a checkpoint sends as a synchronizer time
// without record_time: no participant sends that, and the library's client
// refuses the checkpoint. The zero time starts the synchronizer's clock
// where Append would, at the start time.
func TestAdvanceTimeZeroOnANewSynchronizer(t *testing.T) {
	f := setup(t, WithCheckpointInterval(10*time.Millisecond))
	f.p.AdvanceTime("", time.Time{})

	cp := f.open(t, tail(0)).nextCheckpoint()
	require.Equal(t, int64(1), cp.GetOffset())
	require.Len(t, cp.GetSynchronizerTimes(), 1)
	require.NotNil(t, cp.GetSynchronizerTimes()[0].GetRecordTime(), "checkpoint %v has a synchronizer time without record time", cp)
	_, err := ledger.CheckpointFromProto(cp)
	require.NoError(t, err, "the library's client refuses the checkpoint")
	require.Equal(t, ts(DefaultStartTime), ts(cp.GetSynchronizerTimes()[0].GetRecordTime().AsTime()))
	require.Equal(t, DefaultStartTime, f.p.ProcessedRecordTime(""))

	// On a synchronizer with a time, the zero time keeps it, as any time
	// before it does.
	got, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	f.p.AdvanceTime("", time.Time{})
	require.Equal(t, got[0].RecordTime, f.p.ProcessedRecordTime(""))
}

// WithStartTime(time.Time{}) (say, from an unset variable) was accepted,
// and Append then gave transactions the zero record time, which the
// stream sends as no record_time at all: the library's client refuses such
// a transaction. New refuses the zero start time, as it refuses the other
// unusable option values.
func TestNewRefusesZeroStartTime(t *testing.T) {
	p, err := New(WithStartTime(time.Time{}))
	if err == nil {
		defer p.Close()
		got, appendErr := p.Append(txFor("alice"))
		require.NoError(t, appendErr)
		t.Fatalf("New accepted the zero start time; Append gave the record time %s", ts(got[0].RecordTime))
	}
	require.ErrorContains(t, err, "start time")
}

// Restore documents that its snapshot must come from the participant's own
// Backup. Another participant's snapshot was restored without a word,
// mixing the two ledgers: the other's transactions under this one's update
// ids, then this one's later history. That is a bug in the test.
func TestRestoreRefusesAnotherParticipantsSnapshot(t *testing.T) {
	p1, err := New()
	require.NoError(t, err)
	defer p1.Close()
	p2, err := New()
	require.NoError(t, err)
	defer p2.Close()
	_, err = p1.Append(txFor("alice"), txFor("alice"), txFor("alice"))
	require.NoError(t, err)
	_, err = p2.Append(txFor("bob"))
	require.NoError(t, err)

	foreign := p2.Backup()
	panicked := func() (r bool) {
		defer func() { r = recover() != nil }()
		p1.Restore(foreign)
		return false
	}()
	if !panicked {
		var witnesses []string
		for _, tx := range p1.Transactions() {
			witnesses = append(witnesses, tx.UpdateID+":"+tx.Events[0].(*ledger.CreatedEvent).WitnessParties[0])
		}
		t.Fatalf("Restore accepted another participant's snapshot; the ledger is now %v", witnesses)
	}

	// A participant's own snapshot, and the zero Snapshot (a backup taken
	// before anything happened), restore as before.
	own := p1.Backup()
	require.NotPanics(t, func() { p1.Restore(own) })
	require.NotPanics(t, func() { p1.Restore(Snapshot{}) })
	require.Len(t, p1.Transactions(), 3)
}

// A test cannot tell when the participant has taken a stream in: the
// client's GetUpdates returns before the handler runs. Calls is the only
// sign, so a stream Calls counts must be open for ExpireTokenOnStreams (and
// Restore and Prune): a switch thrown after Calls saw the stream, while its
// handler is still on the way (here held in an Intercept hook, as the
// scheduler may hold it), must reach it. It did not: the stream captured
// the switches' state only after the hook and authentication, and tailed
// on as if opened after the switch, so such a test hangs or flakes.
func TestStreamCountedByCallsIsOpenForTheSwitches(t *testing.T) {
	f := setup(t, WithCheckpointInterval(time.Hour))
	_, err := f.p.Append(txFor("alice"))
	require.NoError(t, err)
	entered, release := make(chan struct{}), make(chan struct{})
	f.p.Intercept("GetUpdates", func(ctx context.Context, req proto.Message) error {
		close(entered)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	r := f.open(t, tail(0))
	<-entered
	require.Equal(t, 1, f.p.Calls("GetUpdates"))
	f.p.ExpireTokenOnStreams()
	close(release)

	it, ok := r.readWithin(2 * time.Second)
	require.True(t, ok, "the stream Calls counted before ExpireTokenOnStreams went on, as one opened after it")
	if it.err == nil {
		it, ok = r.readWithin(2 * time.Second) // offset 1 may come first
		require.True(t, ok, "the stream Calls counted before ExpireTokenOnStreams went on, as one opened after it")
	}
	requireError(t, it.err, codes.Aborted, ErrorIDAccessTokenExpired)
}

// WithAdminTLS configures the admin API's own listener; with
// WithSharedAdmin there is none, and the configuration was dropped without
// a word: a test meaning to serve the admin API with its own TLS settings
// (say, mutual TLS for the admin API only) ran it with the Ledger API's.
// New refuses the pair, as it refuses WithAdminListener with
// WithSharedAdmin.
func TestNewRefusesAdminTLSWithSharedAdmin(t *testing.T) {
	certs, err := NewCerts("client")
	require.NoError(t, err)
	p, err := New(WithSharedAdmin(), WithAdminTLS(certs.ServerConfig(true)))
	if err == nil {
		p.Close()
		t.Fatal("New accepted WithAdminTLS with WithSharedAdmin and served the admin API without that configuration")
	}
	require.ErrorContains(t, err, "WithAdminTLS")
}

// A failed Append appends nothing, and must teach the participant nothing
// either: it registered the package names of the transactions it went
// through before the error, so that a package id the test never appended
// got a name, and a filter by another package name then no longer selected
// the events of that id appended later.
func TestFailedAppendLearnsNoPackageNames(t *testing.T) {
	f := setup(t)
	named := created("c1", ledger.MustParseIdentifier("pkgA:M:T"), "alice")
	named.PackageName = "name-a"
	_, err := f.p.Append(
		&ledger.Transaction{Events: []ledger.Event{named}, RecordTime: DefaultStartTime.Add(time.Second)},
		&ledger.Transaction{RecordTime: DefaultStartTime}, // record time goes back: refused
	)
	require.ErrorContains(t, err, "is before")
	require.Zero(t, f.p.LedgerEnd())

	// The id pkgA was never appended with a name: a filter by package name
	// cannot tell it apart, and selects its events.
	_, err = f.p.Append(&ledger.Transaction{Events: []ledger.Event{created("c2", ledger.MustParseIdentifier("pkgA:M:T"), "alice")}})
	require.NoError(t, err)
	req := &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(1), UpdateFormat: partyFormat(map[string]*lapiv2.Filters{
		"alice": {Cumulative: []*lapiv2.CumulativeFilter{templateFilter(ledger.MustParseIdentifier("#name-b:M:T"))}},
	})}
	txs, err := f.open(t, req).rest()
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, txs, 1, "the failed Append named package pkgA for the participant's filters")
}

// AppendFunc's generator returning nil, or a transaction with a nil event,
// is the same bug in the test as Append's nil event, found only when the
// transaction is made. A nil event vanished from the transaction (the test
// then reads one event fewer than it generated, without a word) and a nil
// transaction or a nil *CreatedEvent crashed on a nil dereference deep in
// the fake. Each stops the test with a message that names the generator
// and the transaction.
func TestAppendFuncRefusesNilFromTheGenerator(t *testing.T) {
	var typedNil *ledger.CreatedEvent
	for name, gen := range map[string]func(int) *ledger.Transaction{
		"nil transaction": func(int) *ledger.Transaction { return nil },
		"nil event": func(int) *ledger.Transaction {
			return &ledger.Transaction{Events: []ledger.Event{created("c", amuletTemplate, "alice"), nil}}
		},
		"nil *CreatedEvent": func(int) *ledger.Transaction {
			return &ledger.Transaction{Events: []ledger.Event{created("c", amuletTemplate, "alice"), typedNil}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := New()
			require.NoError(t, err)
			defer p.Close()
			require.NoError(t, p.AppendFunc(1, gen))
			var got []*ledger.Transaction
			panicked := func() (v any) {
				defer func() { v = recover() }()
				got = p.Transactions()
				return nil
			}()
			require.NotNil(t, panicked, "Transactions served %d transactions without a word", len(got))
			require.Contains(t, fmt.Sprint(panicked), "AppendFunc generator", "the panic does not name the generator")
			require.Contains(t, fmt.Sprint(panicked), "upd-1")
		})
	}
}

// New refusing its options closes the listeners it was given, as Close
// would have and as it does when its own admin listener cannot be made:
// the caller, who gets no Participant, has nothing to close them with.
func TestNewRefusingClosesTheGivenListeners(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	adminLis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, err = New(WithListener(lis), WithAdminListener(adminLis), WithOffsetStep(0))
	require.Error(t, err)
	for _, l := range []net.Listener{lis, adminLis} {
		require.ErrorIs(t, l.Close(), net.ErrClosed, "%s is still open after New failed", l.Addr())
	}
}
