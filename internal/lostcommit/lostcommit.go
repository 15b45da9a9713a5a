// Package lostcommit is a TCP proxy for tests, between lib/pq and a
// PostgreSQL server without TLS, that makes the outcome of a COMMIT
// unknown to the client: once armed, it forwards the next COMMIT sent on a
// connection that has sent the armed marker (a text the transaction's
// statements or parameters hold), waits for the server's reply, which says
// the transaction committed, drops it and closes the connection. lib/pq
// then returns a network error (driver.ErrBadConn for the close), as for a
// connection lost after the COMMIT reached the server, and database/sql
// does not retry it: the caller cannot tell whether it committed. Cut
// instead drops the COMMIT itself, so that the transaction rolls back,
// and runs a function (another writer's change) before the client sees
// its connection gone.
package lostcommit

import (
	"bytes"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards each connection made to Addr to its target.
type Proxy struct {
	lis net.Listener
	dsn string

	mu     sync.Mutex
	marker []byte // armed, if not nil
	cut    func() // for a Cut: run once the COMMIT was dropped
	reset  bool   // for an ArmReset: the client's connection is reset
	lost   int
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// commit is lib/pq's COMMIT, a simple query: its text, NUL-terminated.
var commit = []byte("COMMIT\x00")

// New starts a proxy on a loopback port to the server of dsn (a
// postgres:// URL, without TLS); it stops, closing every connection, when
// the test ends. DSN is dsn through the proxy.
func New(t testing.TB, dsn string) *Proxy {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("lostcommit: %v", err)
	}
	target := u.Host
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("lostcommit: %v", err)
	}
	u.Host = lis.Addr().String()
	p := &Proxy{lis: lis, dsn: u.String(), conns: map[net.Conn]bool{}}
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
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			p.wg.Add(1)
			go p.serve(c, up)
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		<-accepted
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// DSN is the connection string through the proxy.
func (p *Proxy) DSN() string { return p.dsn }

// Arm makes the proxy lose the reply to the next COMMIT sent on a
// connection that has sent marker since Arm (in the same write as the
// COMMIT, or before it).
func (p *Proxy) Arm(marker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marker, p.cut, p.reset = []byte(marker), nil, false
}

// ArmReset is Arm, the client's connection then reset (a TCP RST, as a
// middlebox or a server host gone sends) rather than closed: lib/pq
// returns "connection reset by peer", a *net.OpError, not
// driver.ErrBadConn, and database/sql keeps the connection (a *sql.Conn
// holds it until closed).
func (p *Proxy) ArmReset(marker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marker, p.cut, p.reset = []byte(marker), nil, true
}

// Cut makes the proxy drop the next COMMIT sent (in a write of its own)
// on a connection that has sent marker since Cut: it closes the
// connection to the server instead, so that the transaction rolls back,
// runs then (another writer's change, made before the client can read
// back what it did), and closes the client's connection. lib/pq returns a
// network error, as for a COMMIT lost before it reached the server. Lost
// counts it.
func (p *Proxy) Cut(marker string, then func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marker, p.cut, p.reset = []byte(marker), then, false
}

// Lost counts the COMMITs whose reply the proxy dropped.
func (p *Proxy) Lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}

func (p *Proxy) serve(c, up net.Conn) {
	defer p.wg.Done()
	defer func() {
		c.Close()
		up.Close()
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, up)
		p.mu.Unlock()
	}()
	// swallow is closed once this connection's COMMIT was forwarded: the
	// server's next bytes are its reply, read and dropped.
	swallow := make(chan struct{})
	reset := false // set before swallow is closed
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := up.Read(buf)
			select {
			case <-swallow:
				// The reply to the COMMIT (CommandComplete): the server
				// committed. Drop it and the connection.
				if tc, ok := c.(*net.TCPConn); ok && reset {
					_ = tc.SetLinger(0)
				}
				c.Close()
				return
			default:
			}
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	var seen []byte // what this connection sent since Arm, while armed
	var armedAt []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			p.mu.Lock()
			marker := p.marker
			if marker != nil && !bytes.Equal(marker, armedAt) {
				armedAt, seen = marker, nil
			}
			fire := false
			var cut func()
			if marker != nil {
				seen = append(seen, chunk...)
				if i := bytes.Index(seen, marker); i >= 0 && bytes.Contains(seen[i:], commit) {
					j := bytes.Index(chunk, commit)
					if p.cut == nil || j >= 5 && chunk[j-5] == 'Q' {
						fire, cut, reset = true, p.cut, p.reset
						p.marker, p.cut, p.reset = nil, nil, false
						p.lost++
					}
				}
			}
			p.mu.Unlock()
			if cut != nil {
				// What came before the COMMIT's message goes on; the
				// COMMIT does not, nor does the connection: the server
				// rolls the transaction back.
				_, _ = up.Write(chunk[:bytes.Index(chunk, commit)-5])
				up.Close()
				<-done
				cut()
				return
			}
			if fire {
				close(swallow)
			}
			if _, werr := up.Write(chunk); werr != nil {
				break
			}
			if fire {
				<-done
				return
			}
		}
		if err != nil {
			break
		}
	}
	up.Close()
	<-done
}
