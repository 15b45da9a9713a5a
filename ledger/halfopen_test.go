package ledger_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// blackholeProxy forwards TCP connections to target until cut, then drops
// everything either side sends without closing anything: a half-open
// connection, as when a NAT or firewall forgets it, or the participant's
// host goes away without a reset.
type blackholeProxy struct {
	lis    net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	bp := &blackholeProxy{lis: lis, target: target}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			bp.mu.Lock()
			bp.conns = append(bp.conns, c, up)
			bp.mu.Unlock()
			go bp.pipe(up, c)
			go bp.pipe(c, up)
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		bp.mu.Lock()
		defer bp.mu.Unlock()
		for _, c := range bp.conns {
			c.Close()
		}
	})
	return bp
}

func (bp *blackholeProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if bp.cut.Load() {
			continue // into the void
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// A tailing stream whose connection goes half-open (nothing arrives, no
// reset, no FIN) must fail within a bounded time, as UNAVAILABLE, so that
// ingestion reconnects; the operating system's TCP keepalive, which gRPC
// enables with the system's timing, notices only after more than two hours
// on Linux, and ingest.Config.StallTimeout is off by default.
func TestHalfOpenConnectionFailsTheStream(t *testing.T) {
	t.Parallel() // it waits about KeepaliveTime + KeepaliveTimeout, idle
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(holdingTx(treasury, "1"))
	require.NoError(t, err)
	bp := newBlackholeProxy(t, p.Addr())
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: bp.lis.Addr().String(), Insecure: true}})
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

	bp.cut.Store(true)
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Recv(); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		require.NotErrorIs(t, err, io.EOF)
		require.True(t, ledger.IsRetryable(err), "%v", err)
		t.Logf("the stream failed %v after the cut: %v", time.Since(start).Round(time.Second), err)
	case <-time.After(90 * time.Second):
		t.Fatalf("the stream on a half-open connection still waits %v later, with no error", time.Since(start).Round(time.Second))
	}
}
