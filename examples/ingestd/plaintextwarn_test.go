package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/stretchr/testify/require"
)

const plaintextTokenWarning = `"msg":"ingestd: -plaintext to a participant that is not on this machine's loopback`

// -plaintext with a bearer token to a host that is not loopback sends the
// token unencrypted across the network: allowed (an in-cluster link may be
// trusted), but said at start, naming the endpoint and not the token. The
// participant here (TEST-NET-1) is never reached: the warning comes first.
func TestPlaintextTokenToARemoteHostWarns(t *testing.T) {
	env := map[string]string{conn.EnvLedger: "192.0.2.1:5001", conn.EnvParty: demoParty, conn.EnvDSN: pgtest.NewDSN(t),
		"TXHISTORY_PLAINTEXT": "true", "TXHISTORY_INSTRUMENTS": "Amulet@DSO::1220d50", conn.EnvToken: "a-secret-token"}
	logs := &syncbuf.Buffer{}
	sigs := make(chan os.Signal, 1)
	code, _ := runDaemon([]string{"-metrics-addr", "127.0.0.1:0"}, env, logs, sigs)
	ok := assertEventually(func() bool { return strings.Contains(logs.String(), plaintextTokenWarning) }, 10*time.Second)
	sigs <- syscall.SIGTERM
	<-code
	require.True(t, ok, "no warning:\n%s", logs.String())
	require.Contains(t, logs.String(), `"target":"192.0.2.1:5001"`)
	require.NotContains(t, logs.String(), "a-secret-token", "the token reached the log")
}

// assertEventually polls cond until it holds or d has passed.
func assertEventually(cond func() bool, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
