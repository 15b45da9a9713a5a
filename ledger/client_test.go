package ledger_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

const treasury = "treasury::1220abcd"

func holdingTx(owner string, amount string) *ledger.Transaction {
	view := ledger.Record(nil,
		ledger.F("owner", ledger.Party(owner)),
		ledger.F("amount", ledger.Numeric(amount)),
	)
	return &ledger.Transaction{Events: []ledger.Event{&ledger.CreatedEvent{
		ContractID: "00h-" + amount, TemplateID: ledger.MustParseIdentifier("#tok:Tok:Holding"),
		CreateArguments: view, WitnessParties: []string{owner}, Signatories: []string{owner},
		InterfaceViews: []ledger.InterfaceView{{InterfaceID: ledger.HoldingInterface, Value: view}},
	}}}
}

func newClient(t *testing.T, p *ledgertest.Participant) *ledger.Client {
	t.Helper()
	c, err := ledger.Dial(ledger.Config{
		LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true},
		Admin:     ledger.Endpoint{Target: p.AdminAddr(), Insecure: true},
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// recvAll reads a bounded stream to its end and returns its transactions.
// Unless checkpoints are allowed, every update must be a transaction.
func recvAll(t *testing.T, s *ledger.UpdateStream, checkpoints bool) []*ledger.Transaction {
	t.Helper()
	var got []*ledger.Transaction
	for {
		u, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return got
		}
		require.NoError(t, err)
		if u.Kind != ledger.UpdateTransaction {
			require.True(t, checkpoints, "update of kind %v", u.Kind)
			continue
		}
		got = append(got, u.Transaction)
	}
}

func TestClientAgainstFakeParticipant(t *testing.T) {
	ctx := context.Background()
	p, err := ledgertest.New(ledgertest.WithSeparateAdmin())
	require.NoError(t, err)
	defer p.Close()
	stored, err := p.Append(holdingTx(treasury, "1.5"), holdingTx("other::1220", "2"), holdingTx(treasury, "3.25"))
	require.NoError(t, err)
	c := newClient(t, p)

	end, err := c.LedgerEnd(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(3), end)

	// A bounded stream delivers the treasury's transactions with decoded
	// values and views, then io.EOF.
	s, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: end, Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	got := recvAll(t, s, false)
	require.Len(t, got, 2)
	require.Equal(t, stored[0].UpdateID, got[0].UpdateID)
	require.Equal(t, int64(3), got[1].Offset)
	require.True(t, stored[2].RecordTime.Equal(got[1].RecordTime))
	c0 := got[1].Events[0].(*ledger.CreatedEvent)
	view, ok := c0.View(ledger.HoldingInterface)
	require.True(t, ok)
	amount, err := view.Value.Get("amount")
	require.NoError(t, err)
	d, err := amount.AsDecimal()
	require.NoError(t, err)
	require.Equal(t, "3.25", d.String())

	tx, err := c.UpdateByID(ctx, stored[2].UpdateID, ledger.Filter{Parties: []string{treasury}})
	require.NoError(t, err)
	require.Equal(t, int64(3), tx.Offset)
	_, err = c.UpdateByID(ctx, "no-such-update", ledger.Filter{Parties: []string{treasury}})
	require.ErrorIs(t, err, ledger.ErrNotFound)

	off, err := c.HighestOffsetByTimestamp(ctx, stored[0].SynchronizerID, stored[1].RecordTime, false)
	require.NoError(t, err)
	require.Equal(t, int64(2), off)
	_, err = c.HighestOffsetByTimestamp(ctx, stored[0].SynchronizerID, stored[2].RecordTime.Add(time.Hour), false)
	require.ErrorIs(t, err, ledger.ErrUnprocessedTimestamp)

	require.NoError(t, p.Prune(2))
	po, err := c.PrunedOffsets(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), po.ParticipantPrunedUpToInclusive)
	s, err = c.Updates(ctx, ledger.UpdatesRequest{BeginExclusive: 1, Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	_, err = s.Recv()
	var pe *ledger.PrunedError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, int64(2), pe.EarliestOffset)

	s, err = c.Updates(ctx, ledger.UpdatesRequest{BeginExclusive: 10, Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	_, err = s.Recv()
	require.ErrorIs(t, err, ledger.ErrOffsetAfterLedgerEnd)
	require.True(t, ledger.IsRetryable(err))
}

func TestClientRefusesPlaintextUnlessInsecure(t *testing.T) {
	_, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: "127.0.0.1:1"}})
	require.ErrorContains(t, err, "Insecure")
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: "127.0.0.1:1", Insecure: true}})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.HighestOffsetByTimestamp(context.Background(), "s", time.Now(), false)
	require.ErrorIs(t, err, ledger.ErrNoAdminAPI)
	_, err = c.Updates(context.Background(), ledger.UpdatesRequest{})
	require.ErrorContains(t, err, "no party")
}

// The token source is asked on every call, so a refreshed token is used
// from the next call on.
func TestTokenSourceAskedPerCall(t *testing.T) {
	p, err := ledgertest.New(ledgertest.WithToken("t1"))
	require.NoError(t, err)
	defer p.Close()
	current := "t1"
	asked := 0
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true,
		Tokens: ledger.TokenFunc(func(context.Context) (string, error) { asked++; return current, nil })}})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.LedgerEnd(context.Background())
	require.NoError(t, err)
	p.SetToken("t2")
	_, err = c.LedgerEnd(context.Background())
	require.ErrorIs(t, err, ledger.ErrUnauthenticated)
	current = "t2"
	_, err = c.LedgerEnd(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3, asked)
}

// Every transaction of a long stream is intact once the whole stream has
// been read. The stream decodes a message from gRPC's own buffer when it
// arrived in one and hands the buffer back after decoding; gRPC reuses it
// for later messages, so nothing decoded may point into it. Each streamed
// transaction must equal the same transaction looked up on its own
// (GetUpdateById, decoded by the reference path).
func TestStreamedTransactionsOutliveTheirBuffers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	const n = 300
	h := ledgertest.TransferHistory{Treasury: treasury}
	require.NoError(t, p.AppendFunc(n, h.Tx))
	c := newClient(t, p)
	f := ledger.Filter{Parties: []string{treasury}}
	s, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: n, Filter: f})
	require.NoError(t, err)
	got := recvAll(t, s, true)
	require.Len(t, got, n)
	for i, tx := range got {
		want, err := c.UpdateByID(ctx, tx.UpdateID, f)
		require.NoError(t, err)
		require.Equal(t, want, tx, "transaction %d (offset %d)", i, tx.Offset)
	}
}

// countingListener counts the bytes its connections write.
type countingListener struct {
	net.Listener
	written *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, written: l.written}, nil
}

type countingConn struct {
	net.Conn
	written *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

// TestReceiveWindowBoundsWhatWaits: while the reader of a stream stalls,
// the participant can send no more than Config.ReceiveWindow ahead of it,
// so that what waits in gRPC's buffers stays bounded during a catch-up
// bound by the database.
func TestReceiveWindowBoundsWhatWaits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// sent returns how many bytes the participant sent to a reader that
	// read one update and then stalled.
	sent := func(window int) int64 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		var written atomic.Int64
		p, err := ledgertest.New(ledgertest.WithListener(countingListener{Listener: l, written: &written}))
		require.NoError(t, err)
		defer p.Close()
		const n = 5000 // about 28 MB of transfers
		h := ledgertest.TransferHistory{Treasury: treasury}
		require.NoError(t, p.AppendFunc(n, h.Tx))
		c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}, ReceiveWindow: window})
		require.NoError(t, err)
		defer c.Close()
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		s, err := c.Updates(sctx, ledger.UpdatesRequest{EndInclusive: n, Filter: ledger.Filter{Parties: []string{treasury}}})
		require.NoError(t, err)
		_, err = s.Recv()
		require.NoError(t, err)
		// Wait until the participant has stopped sending (no byte for 300
		// ms), however slow the machine.
		last := written.Load()
		for quiet := time.Now(); time.Since(quiet) < 300*time.Millisecond; {
			require.NoError(t, ctx.Err(), "the participant never stopped sending")
			time.Sleep(20 * time.Millisecond)
			if w := written.Load(); w != last {
				last, quiet = w, time.Now()
			}
		}
		return last
	}
	def, four := sent(0), sent(4<<20)
	t.Logf("sent to a stalled reader: %d bytes with the default window (%d), %d with a window of 4 MiB", def, ledger.DefaultReceiveWindow, four)
	require.Less(t, def, int64(ledger.DefaultReceiveWindow+256<<10))
	require.Greater(t, four, int64(3<<20), "the window is what holds the participant back")
	require.Less(t, four, int64(4<<20+256<<10))
}

// TestReceiveWindow: a message larger than the window is received whole,
// and a window HTTP/2 does not allow is refused.
func TestReceiveWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	big := holdingTx(treasury, "7")
	big.CommandID = strings.Repeat("c", 4*ledger.MinReceiveWindow)
	stored, err := p.Append(holdingTx(treasury, "1"), big, holdingTx(treasury, "2"))
	require.NoError(t, err)
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}, ReceiveWindow: ledger.MinReceiveWindow})
	require.NoError(t, err)
	defer c.Close()
	f := ledger.Filter{Parties: []string{treasury}}
	s, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: 3, Filter: f})
	require.NoError(t, err)
	got := recvAll(t, s, true)
	require.Len(t, got, 3)
	require.Equal(t, stored[1].UpdateID, got[1].UpdateID)
	require.Equal(t, big.CommandID, got[1].CommandID)

	for _, w := range []int{1, ledger.MinReceiveWindow - 1, math.MaxInt32 + 1} {
		_, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}, ReceiveWindow: w})
		require.ErrorContains(t, err, "ReceiveWindow", "window %d", w)
	}
}

// TestClientClosed: the calls of a closed Client, and a stream it had open,
// fail with ErrClientClosed, which is not retryable; closing again is nil.
func TestClientClosed(t *testing.T) {
	p, err := ledgertest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := c.Updates(ctx, ledger.UpdatesRequest{Filter: ledger.Filter{Parties: []string{"alice::1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LedgerEnd(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Recv(); !errors.Is(err, ledger.ErrClientClosed) || ledger.IsRetryable(err) {
		t.Errorf("Recv of a stream the Close ended: %v", err)
	}
	if _, err := c.LedgerEnd(ctx); !errors.Is(err, ledger.ErrClientClosed) || ledger.IsRetryable(err) {
		t.Errorf("LedgerEnd after Close: %v", err)
	}
	if _, err := c.UpdateByID(ctx, "upd-1", ledger.Filter{Parties: []string{"alice::1"}}); !errors.Is(err, ledger.ErrClientClosed) {
		t.Errorf("UpdateByID after Close: %v", err)
	}
}
