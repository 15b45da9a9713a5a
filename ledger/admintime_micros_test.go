package ledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/proto/gen/adminv30"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// Canton keeps record times in microseconds. HighestOffsetByTimestamp given
// a time with nanoseconds must send it truncated to its microsecond (the
// same answer for "at or before t"), not leave the participant to parse a
// finer time than it stores.
func TestHighestOffsetByTimestampSendsMicroseconds(t *testing.T) {
	var mu sync.Mutex
	var sent []time.Time
	capture := grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if r, ok := req.(*adminv30.GetHighestOffsetByTimestampRequest); ok {
			mu.Lock()
			sent = append(sent, r.GetTimestamp().AsTime())
			mu.Unlock()
		}
		return h(ctx, req)
	})
	p, err := ledgertest.New(ledgertest.WithServerOptions(capture))
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	stored, err := p.Append(holdingTx(treasury, "1.0"), holdingTx(treasury, "2.0"))
	require.NoError(t, err)
	c := newClient(t, p)

	at := stored[1].RecordTime.Add(999 * time.Nanosecond)
	off, err := c.HighestOffsetByTimestamp(context.Background(), stored[0].SynchronizerID, at, false)
	require.NoError(t, err)
	require.Equal(t, stored[1].Offset, off)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, sent, 1)
	require.True(t, sent[0].Equal(stored[1].RecordTime), "sent %s for %s", sent[0].Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
}
