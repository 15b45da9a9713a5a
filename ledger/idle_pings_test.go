package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// A tailing stream with nothing to deliver (no transaction, no
// checkpoint) is kept alive by the client's keepalive pings, which the
// fake participant permits as often as Canton does (every 10s on the
// Ledger API): a server with gRPC's default policy (a ping every five
// minutes at most) would answer the third early ping with GOAWAY
// too_many_pings and end the stream. The client pings here as often as
// gRPC lets it (10s, more often than KeepaliveTime), so that three pings
// pass in under a minute.
func TestIdleStreamSurvivesKeepalivePings(t *testing.T) {
	t.Parallel() // it waits about a minute, idle
	p, err := ledgertest.New(ledgertest.WithCheckpointInterval(time.Hour))
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(holdingTx(treasury, "1"))
	require.NoError(t, err)
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true},
		DialOptions: []grpc.DialOption{grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: ledger.KeepaliveTimeout})}})
	require.NoError(t, err)
	defer c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := c.Updates(ctx, ledger.UpdatesRequest{Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	defer s.Close()
	u, err := s.Recv()
	require.NoError(t, err)
	require.Equal(t, ledger.UpdateTransaction, u.Kind)

	got := make(chan error, 1)
	go func() {
		u, err := s.Recv()
		if err == nil && u.Kind != ledger.UpdateTransaction {
			err = fmt.Errorf("got update kind %v, not the transaction", u.Kind)
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the idle stream ended before anything was appended: %v", err)
	case <-time.After(45 * time.Second): // pings at about 10, 20, 30 and 40s
	}
	_, err = p.Append(holdingTx(treasury, "2"))
	require.NoError(t, err)
	select {
	case err := <-got:
		require.NoError(t, err, "the idle stream ended")
	case <-time.After(10 * time.Second):
		t.Fatal("the transaction appended after the idle minute did not arrive")
	}
}
