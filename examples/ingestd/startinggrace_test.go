package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

// The first -max-silence after start counts from the daemon's start, not
// from when the database answered: a daemon that waited longer than
// -max-silence for its database, and then ingests nothing (its participant
// unreachable), is unhealthy at once, not "starting" for another
// -max-silence. It used to answer 503 while waiting, then 200 "starting:
// no commit yet (0s since start)" once the database answered.
func TestStartupGraceCountsFromTheDaemonsStart(t *testing.T) {
	dsn, open := closedDatabase(t)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: demoParty,
		conn.EnvDSN: dsn, "TXHISTORY_PLAINTEXT": "true"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, ready := runDaemon([]string{"-migrate", "-metrics-addr", addr, "-max-silence", "1500ms"}, env, logs, sigs)

	get := func() (int, string) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var status int
	var body string
	require.Eventually(t, func() bool { status, body = get(); return status == http.StatusServiceUnavailable }, 10*time.Second, 50*time.Millisecond,
		"not 503 after -max-silence waiting for the database: %d %s\n%s", status, body, logs.String())

	open.Store(true)
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("not started once the database answered:\n%s", logs.String())
	}
	status, body = get()
	require.Equal(t, http.StatusServiceUnavailable, status,
		"more than -max-silence after start, nothing ingested, /healthz says: %s", body)

	sigs <- syscall.SIGTERM
	select {
	case <-code:
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", logs.String())
	}
}

// closedDatabase gives a test database's DSN through a port that refuses
// sessions until open is set: a database not answering yet when the
// daemon starts.
func closedDatabase(t *testing.T) (dsn string, open *atomic.Bool) {
	t.Helper()
	u, err := url.Parse(pgtest.NewDSN(t))
	require.NoError(t, err, "pgtest DSN not a URL")
	pgAddr := u.Host
	open = new(atomic.Bool)
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	go func() {
		for {
			c, err := proxy.Accept()
			if err != nil {
				return
			}
			if !open.Load() {
				_ = c.Close()
				continue
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", pgAddr)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c) }()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
	u.Host = proxy.Addr().String()
	return u.String(), open
}
