// Package cutproxy is a TCP proxy for tests that ends every connection it
// holds when told to, or at a steady period: a proxy or load balancer in
// front of a participant ending HTTP/2 connections at a maximum age or an
// idle timeout, or restarting, as it does in production without anything
// being wrong.
package cutproxy

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards each connection made to Addr to its target.
type Proxy struct {
	lis  net.Listener
	mu   sync.Mutex
	open map[net.Conn]bool
	cuts int
	stop chan struct{}
	wg   sync.WaitGroup
}

// New starts a proxy to target on a loopback port; it stops, ending every
// connection, when the test ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cutproxy: %v", err)
	}
	p := &Proxy{lis: lis, open: map[net.Conn]bool{}, stop: make(chan struct{})}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
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
			p.mu.Lock()
			p.open[c], p.open[up] = true, true
			p.mu.Unlock()
			p.wg.Add(2)
			go p.pipe(up, c)
			go p.pipe(c, up)
		}
	}()
	t.Cleanup(func() {
		close(p.stop)
		lis.Close()
		<-accepted
		p.CutAll()
		p.wg.Wait()
	})
	return p
}

// Every starts a proxy to target that ends every connection each period; it
// returns the proxy's address and its count of cuts.
func Every(t testing.TB, target string, period time.Duration) (addr string, cuts func() int) {
	t.Helper()
	p := New(t, target)
	p.CutEvery(period)
	return p.Addr(), p.Cuts
}

// Addr is the address to dial instead of the target's.
func (p *Proxy) Addr() string { return p.lis.Addr().String() }

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.open, dst)
	delete(p.open, src)
	p.mu.Unlock()
}

// CutAll ends every connection the proxy holds, and counts a cut if it
// held any.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.open) > 0 {
		p.cuts++
	}
	for c := range p.open {
		c.Close()
	}
}

// CutEvery ends every connection each period until the test ends.
func (p *Proxy) CutEvery(period time.Duration) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.CutAll()
			}
		}
	}()
}

// Cuts counts the cuts that ended at least one connection.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}
