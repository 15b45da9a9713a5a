package ingest_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// churnProxy forwards TCP connections to target and, while cutting, closes
// every connection it holds each period: a proxy or load balancer ending
// HTTP/2 connections at a maximum age, or restarting, as it does in
// production without anything being wrong.
type churnProxy struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
	cuts   int
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newChurnProxy(t *testing.T, target string) *churnProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cp := &churnProxy{lis: lis, target: target, conns: map[net.Conn]bool{}, stop: make(chan struct{})}
	cp.wg.Add(1)
	go func() {
		defer cp.wg.Done()
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
			cp.mu.Lock()
			cp.conns[c], cp.conns[up] = true, true
			cp.mu.Unlock()
			cp.wg.Add(2)
			go cp.pipe(up, c)
			go cp.pipe(c, up)
		}
	}()
	t.Cleanup(func() {
		close(cp.stop)
		lis.Close()
		cp.cutAll()
		cp.wg.Wait()
	})
	return cp
}

func (cp *churnProxy) Addr() string { return cp.lis.Addr().String() }

func (cp *churnProxy) pipe(dst, src net.Conn) {
	defer cp.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	cp.mu.Lock()
	delete(cp.conns, dst)
	delete(cp.conns, src)
	cp.mu.Unlock()
}

// cutAll closes every connection the proxy holds.
func (cp *churnProxy) cutAll() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if len(cp.conns) > 0 {
		cp.cuts++
	}
	for c := range cp.conns {
		c.Close()
	}
}

// cutEvery closes every connection each period, until the test ends.
func (cp *churnProxy) cutEvery(period time.Duration) {
	cp.wg.Add(1)
	go func() {
		defer cp.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-cp.stop:
				return
			case <-t.C:
				cp.cutAll()
			}
		}
	}()
}

func (cp *churnProxy) cutCount() int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.cuts
}

// A tailing Ingester on a quiet ledger (the participant sends nothing on an
// idle stream: no transaction, no OffsetCheckpoint), whose connection a
// proxy ends every 300ms, as one with a maximum connection age does every
// few minutes: each stream worked until it was cut, and Run, with a small
// MaxAttempts, must not give up on what is normal churn.
func TestRV148IdleStreamChurnDoesNotExhaustMaxAttempts(t *testing.T) {
	b := setup(t, ledgertest.WithCheckpointInterval(time.Hour))
	appendN(t, b.p, 0, 5)
	proxy := newChurnProxy(t, b.p.Addr())
	b.client = dial(t, proxy.Addr(), nil)
	ing := newIngester(t, b, ingest.Config{MaxAttempts: 3})
	done := make(chan error, 1)
	go func() { done <- ing.Run(context.Background()) }()
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)

	proxy.cutEvery(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Run gave up on connection churn after %d cuts: %v", proxy.cutCount(), err)
	case <-time.After(4 * time.Second):
	}
	require.GreaterOrEqual(t, proxy.cutCount(), 8)

	// Still ingesting through the churn.
	appendN(t, b.p, 5, 3)
	require.Eventually(t, func() bool { return ing.Stats().Offset == b.p.LedgerEnd() }, 10*time.Second, 5*time.Millisecond)
	ing.Stop()
	require.NoError(t, <-done)
	requireAllOnce(t, b)
}
