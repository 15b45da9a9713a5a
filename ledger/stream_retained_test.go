package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A tailing stream lives for as long as the participant keeps it open:
// days or months for an Ingester. One huge transaction (anyone can send
// the treasury one, up to MaxRecvMsgSize) must not leave the stream
// holding buffers of its size for the rest of the stream's life: once a
// transaction of ordinary size has been read after it, what the stream
// keeps between messages is bounded by a small constant, not by the
// largest message it ever read.
func TestStreamDoesNotRetainPeakBuffersAfterHugeTransaction(t *testing.T) {
	ctx := context.Background()
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()

	huge := holdingTx(treasury, "1")
	elems := make([]ledger.Value, 400_000)
	for i := range elems {
		elems[i] = ledger.Int64(int64(i))
	}
	c0 := huge.Events[0].(*ledger.CreatedEvent)
	c0.CreateArguments = ledger.Record(nil, ledger.F("owner", ledger.Party(treasury)), ledger.F("many", ledger.List(elems...)))
	_, err = p.Append(holdingTx(treasury, "0.5"), huge)
	require.NoError(t, err)
	for i := range 3 {
		_, err = p.Append(holdingTx(treasury, fmt.Sprint(i+2)))
		require.NoError(t, err)
	}

	c := newClient(t, p)
	s, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: p.LedgerEnd(), Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	defer s.Close()

	u, err := s.Recv()
	require.NoError(t, err)
	require.Equal(t, int64(1), u.Offset())
	before := s.Retained()

	u, err = s.Recv()
	require.NoError(t, err)
	require.Equal(t, int64(2), u.Offset())
	wire := s.WireSize()
	require.Greater(t, wire, 1<<20, "the huge transaction should be over a MiB on the wire")

	for off := int64(3); off <= p.LedgerEnd(); off++ {
		u, err = s.Recv()
		require.NoError(t, err)
		require.Equal(t, off, u.Offset())
	}
	const bound = 1 << 20
	require.LessOrEqual(t, s.Retained(), bound,
		"after a %d-byte transaction and three small ones the stream still holds %d bytes of buffers between messages (%d before it)",
		wire, s.Retained(), before)
}

// liveHeap returns the bytes of live heap objects, after collections
// enough to empty sync.Pools (gRPC's buffers).
func liveHeap() int64 {
	for range 3 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// The bytes of a huge transaction must not stay reachable from the
// stream once it is decoded and the caller dropped it: here an event with
// three interface views before one with a single view leaves references
// past the end of the decoder's scratch of views.
func TestStreamDoesNotPinHugeTransactionBytes(t *testing.T) {
	ctx := context.Background()
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()

	views := func(v ledger.Value, ids ...ledger.Identifier) []ledger.InterfaceView {
		var out []ledger.InterfaceView
		for _, id := range ids {
			out = append(out, ledger.InterfaceView{InterfaceID: id, Value: v})
		}
		return out
	}
	huge := holdingTx(treasury, "1")
	first := huge.Events[0].(*ledger.CreatedEvent)
	first.InterfaceViews = views(first.CreateArguments, ledger.HoldingInterface, ledger.TransferInstructionInterface, ledger.TransferFactoryInterface)
	big := holdingTx(treasury, "2").Events[0].(*ledger.CreatedEvent)
	big.ContractID, big.NodeID = "00h-big", 1
	big.CreateArguments = ledger.Record(nil, ledger.F("owner", ledger.Party(treasury)), ledger.F("blob", ledger.Text(strings.Repeat("x", 4<<20))))
	huge.Events = append(huge.Events, big)
	_, err = p.Append(holdingTx(treasury, "0.5"), huge)
	require.NoError(t, err)
	for i := range 3 {
		_, err = p.Append(holdingTx(treasury, fmt.Sprint(i+3)))
		require.NoError(t, err)
	}

	c := newClient(t, p)
	s, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: p.LedgerEnd(), Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	n, wire := 0, 0
	for {
		u, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if u.Offset() == 2 {
			require.Len(t, u.Transaction.Events[0].(*ledger.CreatedEvent).InterfaceViews, 3)
			wire = s.WireSize()
		}
		n++
	}
	require.Equal(t, 5, n)
	open := liveHeap()
	s.Close()
	s = nil
	held := open - liveHeap()
	require.Less(t, held, int64(1<<20), "after a %d-byte transaction, dropped by the caller, and three small ones, the open stream kept %d bytes alive", wire, held)
}
