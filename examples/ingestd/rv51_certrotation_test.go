package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// cutProxy forwards TCP connections to a target until cut closes them
// all: the daemon then reconnects, with a new TLS handshake.
type cutProxy struct {
	lis   net.Listener
	mu    sync.Mutex
	conns []net.Conn
	// down, while true, closes new connections at once (the target is
	// down; cut closes those open).
	down atomic.Bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cp := &cutProxy{lis: lis}
	t.Cleanup(func() { lis.Close(); cp.cut() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			if cp.down.Load() {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			cp.mu.Lock()
			cp.conns = append(cp.conns, c, up)
			cp.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return cp
}

func (cp *cutProxy) cut() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for _, c := range cp.conns {
		c.Close()
	}
	cp.conns = nil
}

// TestClientCertificateRotatedWhileRunning: the client certificate is
// rotated as a secret volume does it (new -tls-cert and -tls-key files in
// place, then the old certificate is no longer accepted: expired or
// revoked); at the next reconnect the daemon presents the new one and goes
// on ingesting.
func TestClientCertificateRotatedWhileRunning(t *testing.T) {
	certs, err := ledgertest.NewCerts("ingester")
	require.NoError(t, err)
	files, err := certs.WriteFiles(t.TempDir())
	require.NoError(t, err)
	oldCert := certs.Client.Certificate[0]
	var refuseOld atomic.Bool
	scfg := certs.ServerConfig(true)
	scfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if refuseOld.Load() && bytes.Equal(raw[0], oldCert) {
			return errors.New("the old client certificate is no longer accepted")
		}
		return nil
	}
	p, err := ledgertest.New(ledgertest.WithTLS(scfg))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(demoTxs(demoParty, 0, 20)...)
	require.NoError(t, err)
	proxy := newCutProxy(t, p.Addr())
	_, port, err := net.SplitHostPort(proxy.lis.Addr().String())
	require.NoError(t, err)
	dsn := pgtest.NewDSN(t)

	env := map[string]string{conn.EnvLedger: "localhost:" + port, conn.EnvParty: demoParty, conn.EnvDSN: dsn}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-metrics-addr", "127.0.0.1:0", "-progress", "200ms",
		"-tls-ca", files.CA, "-tls-cert", files.ClientCert, "-tls-key", files.ClientKey}, env, logs, sigs)
	waitReady(t, code, ready, logs)
	db, err := sqlx.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	waitOffset := func(want int64) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			var off int64
			_ = db.Get(&off, `SELECT ledger_offset FROM txhistory.checkpoint`)
			if off >= want {
				return
			}
			select {
			case c := <-code:
				t.Fatalf("ingestd exited %d after its client certificate files were replaced and the old certificate refused: it still presents the certificate it read at start:\n%s", c, logs.String())
			case <-deadline:
				t.Fatalf("offset %d not ingested within 20 s:\n%s", want, logs.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitOffset(20)

	// The rotation: new files (written elsewhere and renamed into place,
	// as a secret volume's symlink swap replaces them), then the old
	// certificate refused and the connection lost.
	_, certPEM, keyPEM, err := certs.Issue("ingester", x509.ExtKeyUsageClientAuth, nil, nil)
	require.NoError(t, err)
	for path, data := range map[string][]byte{files.ClientCert: certPEM, files.ClientKey: keyPEM} {
		require.NoError(t, os.WriteFile(path+".new", data, 0o600))
		require.NoError(t, os.Rename(path+".new", path))
	}
	refuseOld.Store(true)
	proxy.cut()
	_, err = p.Append(demoTxs(demoParty, 20, 10)...)
	require.NoError(t, err)
	waitOffset(30)

	sigs <- syscall.SIGTERM
	require.Equal(t, 0, <-code, logs.String())
}
