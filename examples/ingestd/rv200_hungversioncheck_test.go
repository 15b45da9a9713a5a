package main

import (
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// hungHost listens on loopback, takes connections and answers nothing (a
// hung database host, or a proxy in front of one that is gone); close
// closes it and the connections it took.
func hungHost(t *testing.T) (addr string, close func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var held []net.Conn
	var once sync.Once
	close = func() {
		once.Do(func() {
			lis.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range held {
				c.Close()
			}
		})
	}
	t.Cleanup(close)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	return lis.Addr().String(), close
}

// TestSchemaVersionCheckWaitingForAHungDatabaseIsLogged: with
// -migrate=false (the pods of a deployment whose migration job migrates),
// ingestd checks the schema's version before it starts. A database host
// that takes connections and answers nothing (without connect_timeout the
// attempt waits for ever) held the check, and nothing was logged after the
// start line: the migrations' wait says so every 30 s (a4af09e, 214bef9),
// the version check's did not. It now logs "still waiting for the schema
// version check to complete", saying that the database does not answer.
func TestSchemaVersionCheckWaitingForAHungDatabaseIsLogged(t *testing.T) {
	every := startupWaitLogEvery
	startupWaitLogEvery = 300 * time.Millisecond
	t.Cleanup(func() { startupWaitLogEvery = every })

	addr, closeHost := hungHost(t)
	env := map[string]string{conn.EnvLedger: "127.0.0.1:1", conn.EnvParty: demoParty, "TXHISTORY_PLAINTEXT": "true",
		conn.EnvDSN: "postgres://u:pw-S3CRET@" + addr + "/x?sslmode=disable"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-migrate=false", "-metrics-addr", "127.0.0.1:0"}, env, logs, sigs)
	t.Cleanup(func() {
		sigs <- syscall.SIGTERM
		closeHost()
		select {
		case <-code:
		case <-time.After(20 * time.Second):
			t.Errorf("no exit after SIGTERM:\n%s", logs.String())
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "still waiting for the schema version check") }, 5*time.Second, 20*time.Millisecond,
		"nothing logged while the schema version check waits for a database that does not answer:\n%s", logs.String())
	require.Contains(t, logs.String(), "does not answer")
	require.NotContains(t, logs.String(), "pw-S3CRET")
}
